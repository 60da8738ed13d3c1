"""Accounts: sign-up, firm membership, organizers, permissions and notifications."""
