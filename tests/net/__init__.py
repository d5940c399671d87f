"""Tests over real loopback sockets or subprocesses of our own tools."""
