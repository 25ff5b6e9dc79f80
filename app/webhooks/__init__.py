"""Outbound webhooks: target URL checks and the dispatcher that delivers the outbox."""
