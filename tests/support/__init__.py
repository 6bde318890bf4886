"""What the tests share beyond conftest.py's fixtures: helpers, fakes and data files."""
