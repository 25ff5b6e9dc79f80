"""What the user's records add up to: funnel and courtesy figures, and field briefs."""
