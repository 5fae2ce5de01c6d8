#!/usr/bin/env python3
"""localstripe's server, with the PaymentIntent field Stripe always sends and localstripe lacks.

Stripe's PaymentIntent carries `amount_received`: the amount collected, 0 until a charge has
succeeded (Stripe API reference, "The PaymentIntent object"). localstripe 1.15 omits it. The
consumer credits exactly that field and refuses a succeeded PaymentIntent without it, so the
emulator gains the field here rather than the consumer a fallback. Everything else is
localstripe as installed; the arguments are localstripe's own.

Usage: localstripe_stripe_fields.py --port PORT [--from-scratch]
"""
from localstripe import resources, server


def amount_received(self):
    return self.amount if self.status == "succeeded" else 0


# localstripe exports an object's public properties along with its fields.
resources.PaymentIntent.amount_received = property(amount_received)

server.start()
