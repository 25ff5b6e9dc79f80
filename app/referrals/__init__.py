"""Referrals: who gave the user the lead to whom."""
