"""Tests that open no socket: the codec, the wrapper on fakes, policy, public API, layers."""
