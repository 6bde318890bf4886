"""The mailing list: subscribers (double opt-in, topics, leaving) and campaigns from the Updates list."""
