"""The referral network: leads suggested at an interview, how a contact was reached, the
courtesies owed down the chain, and warm paths to an organization or a field."""
