#!/usr/bin/env python3
"""localstripe's server, made to behave as Stripe documents where payhook relies on it and
localstripe 1.15 departs from it. Each change cites the Stripe API reference; everything else is
localstripe as installed; the arguments are localstripe's own.

- PaymentIntent `amount_received`: the amount collected, 0 until a charge has succeeded ("The
  PaymentIntent object"). localstripe omits it. The consumer credits exactly that field and
  refuses a succeeded PaymentIntent without it, so the emulator gains the field here rather
  than the consumer a fallback.
- PaymentIntent `latest_charge` is the charge's id unless the request expands it ("Expanding
  responses": "many objects allow you to request additional information as an expanded
  response"); localstripe always sends the whole charge, which would hide a consumer that
  forgets to ask.
- Refunds: Stripe sends `refund.created` and `charge.refunded` when a refund is made ("Types
  of events": charge.refunded "occurs whenever a charge is refunded, including partial
  refunds"), and a refund carries its `payment_intent` ("The Refund object"). localstripe
  sends no event and leaves `payment_intent` empty for a refund made by charge id.
- A refund that fails: in test mode Stripe fails refunds of certain test cards after they were
  made, with `status` "failed", a `failure_balance_transaction` that "reverses the initial
  balance transaction", and a `refund.failed` event ("The Refund object"; "Refunds: failed
  refunds"). localstripe has no failing refund; `POST /_config/payhook/refunds/{id}/fail` makes one
  fail that way (under `/_config/`, the paths localstripe serves without an API key). A charge's `amount_refunded` then leaves it out.

Usage: localstripe_stripe_fields.py --port PORT [--from-scratch]
"""
from aiohttp import web

from localstripe import resources, server
from localstripe.webhooks import schedule_webhook


def amount_received(self):
    return self.amount if self.status == "succeeded" else 0


# localstripe exports an object's public properties along with its fields.
resources.PaymentIntent.amount_received = property(amount_received)

_export_intent = resources.PaymentIntent._export


def export_intent(self, expand=None):
    exported = _export_intent(self, expand=expand)
    charge = exported.get("latest_charge")
    if isinstance(charge, dict) and "latest_charge" not in (expand or []):
        exported["latest_charge"] = charge["id"]
    return exported


resources.PaymentIntent._export = export_intent

_refund_init = resources.Refund.__init__


def refund_init(self, *args, **kwargs):
    _refund_init(self, *args, **kwargs)
    charge = resources.Charge._api_retrieve(self.charge)
    if self.payment_intent is None:
        self.payment_intent = charge.payment_intent
    self.failure_balance_transaction = None
    self.failure_reason = None
    schedule_webhook(resources.Event("refund.created", self))
    schedule_webhook(resources.Event("charge.refunded", charge))


resources.Refund.__init__ = refund_init


def amount_refunded(self):
    return sum(
        refund.amount
        for refund in self.refunds._list
        if refund.status not in ("failed", "canceled")
    )


resources.Charge.amount_refunded = property(amount_refunded)
resources.Charge.refunded = property(lambda self: self.amount <= self.amount_refunded)


async def fail_refund(request):
    refund = resources.Refund._api_retrieve(request.match_info["id"])
    if refund.status == "failed":
        return web.json_response(refund._export())
    # localstripe's BalanceTransaction accepts only "charge" and "refund" types; Stripe marks
    # the one that gives a failed refund's money back "refund_failure".
    reversal = resources.BalanceTransaction(
        amount=refund.amount,
        currency=refund.currency,
        description="REFUND FAILURE",
        exchange_rate=1.0,
        reporting_category="refund",
        source=refund.id,
        type="refund",
    )
    reversal.type = "refund_failure"
    reversal.reporting_category = "refund_failure"
    refund.status = "failed"
    refund.failure_reason = "expired_or_canceled_card"
    refund.failure_balance_transaction = reversal.id
    schedule_webhook(resources.Event("refund.failed", refund))
    return web.json_response(refund._export())


server.app.router.add_post("/_config/payhook/refunds/{id}/fail", fail_refund)

server.start()
