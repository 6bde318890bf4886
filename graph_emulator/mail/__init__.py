"""The mail service: sendMail (JSON and MIME), each mailbox's Sent Items and Inbox, and what Exchange does next."""
