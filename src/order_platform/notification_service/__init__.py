"""Notification Service: the worker that notifies the customer of every order event, in order."""
