"""The directory service: users (members and guests), groups and their members, and invitations."""
