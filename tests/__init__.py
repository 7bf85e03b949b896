"""schedsim tests."""
