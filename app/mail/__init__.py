"""Letters that really leave: SMTP delivery through a server relay or the user's own mailbox."""
