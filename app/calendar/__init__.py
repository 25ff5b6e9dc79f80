"""The calendar feed: a user's interviews as iCalendar, behind a secret link."""
