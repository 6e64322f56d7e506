"""The one error hierarchy of the product.

::

    AiopsError
    ├── ConfigError          a setting is wrong; names the key and why
    ├── InputError           a message cannot be parsed or is out of range:
    │                        data for the dead-letter topic, never a crash
    │   └── Skip             control flow: drop this input silently (e.g. a duplicate)
    └── DeliveryError        a sink could not deliver
        ├── RetryableDeliveryError   try again later (timeouts, 5xx, 429)
        └── PermanentDeliveryError   will never succeed (4xx, bad payload): dead-letter
"""

from __future__ import annotations


class AiopsError(Exception):
    """Root of every error this product raises on purpose."""


class ConfigError(AiopsError):
    """A configuration value is missing or invalid."""


class InputError(AiopsError):
    """An input message could not be turned into events."""


class Skip(InputError):
    """Not an error: the input is dropped on purpose (duplicates, empty payloads)."""


class DeliveryError(AiopsError):
    """A sink failed to deliver."""


class RetryableDeliveryError(DeliveryError):
    """The delivery may succeed if tried again."""


class PermanentDeliveryError(DeliveryError):
    """The delivery will not succeed; the payload goes to the dead-letter topic."""
