"""Readers and executors for AWS, the directory and Okta; they never decide what to change."""
