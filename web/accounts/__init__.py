"""Pages and API of accounts: sign-up and sign-in, the user's account, admin, notifications, tokens."""
