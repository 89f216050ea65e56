"""Trustroom: a self-hostable client engagement platform for regulated providers."""
