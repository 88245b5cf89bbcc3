"""Adapters at the bottom: the database session, Redis, bulk statements and the Africa's Talking SDK.

They know their library and nothing of the gateway's domain.
"""
