#!/usr/bin/env python3
"""localstripe's server, made to behave as Stripe documents where payhook relies on it and
localstripe 1.15 departs from it. Each change cites the Stripe API reference; everything else is
localstripe as installed; the arguments are localstripe's own.

- PaymentIntent `amount_received`: the amount collected, 0 until a charge has succeeded ("The
  PaymentIntent object"). localstripe omits it. The consumer credits exactly that field and
  refuses a succeeded PaymentIntent without it, so the emulator gains the field here rather
  than the consumer a fallback.
- Partial capture: Stripe captures `amount_to_capture` and releases the rest; the charge's
  `amount_captured` says what was taken ("can be less than the amount attribute on the charge
  if a partial capture was made": "The Charge object") and the PaymentIntent's
  `amount_received` is that amount. localstripe instead captures everything and refunds the
  rest, which would look like a refund the customer never asked for.
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
  fail that way (under `/_config/`, the paths localstripe serves without an API key). A
  charge's `amount_refunded` then leaves it out.
- Checkout Sessions: localstripe has none. Stripe retrieves one (`GET
  /v1/checkout/sessions/:id`) and lists them by PaymentIntent (`GET
  /v1/checkout/sessions?payment_intent=…`, "Only return the Checkout Session for the
  PaymentIntent specified": "List all Checkout Sessions"), each with its `metadata`,
  `client_reference_id` and `payment_intent` ("The Checkout Session object"), and sends
  `checkout.session.completed` when it is paid. A customer's pages cannot run here, so
  `POST /_config/payhook/checkout_sessions` (payment_intent, metadata[id],
  client_reference_id) makes the completed Session of a succeeded PaymentIntent, as Checkout
  leaves it, and sends its event.
- Disputes: localstripe has none. Stripe lists them by PaymentIntent (`GET
  /v1/disputes?payment_intent=…`: "List all disputes"), each with its `status` and "zero, one,
  or two balance transactions that show funds withdrawn and reinstated" ("The Dispute
  object"), marks the charge `disputed` ("The Charge object"), and sends
  `charge.dispute.created`, `charge.dispute.funds_withdrawn`, `charge.dispute.funds_reinstated`
  and `charge.dispute.closed` ("Types of events"). A cardholder cannot dispute here, so
  `POST /_config/payhook/disputes` (payment_intent) opens one on a PaymentIntent's charge and
  withdraws its amount, and `POST /_config/payhook/disputes/{id}/close` (outcome: won or lost)
  closes it, reinstating the funds when won.

Usage: localstripe_stripe_fields.py --port PORT [--from-scratch]
"""
from aiohttp import web

from localstripe import resources, server
from localstripe.webhooks import schedule_webhook


def amount_received(self):
    if self.status != "succeeded":
        return 0
    charge = self.latest_charge
    return charge.amount_captured if charge is not None else self.amount


def charge_capture(self, amount, on_success=None):
    if amount is None:
        amount = self.amount
    amount = resources.try_convert_to_int(amount)
    if not (type(amount) is int and 0 <= amount <= self.amount):
        raise resources.UserError(400, "Bad request")
    if self.captured is not False or self.status != "succeeded":
        raise resources.UserError(400, "Bad request")

    def on_success_capture():
        self.captured = True
        self._payhook_amount_captured = amount
        if on_success:
            on_success()

    self._trigger_payment(on_success=on_success_capture)


resources.Charge._capture = charge_capture
resources.Charge.amount_captured = property(
    lambda self: getattr(self, "_payhook_amount_captured", self.amount) if self.captured else 0
)


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


class CheckoutSession(resources.StripeObject):
    object = "checkout.session"
    _id_prefix = "cs_test_"

    def __init__(self, payment_intent=None, metadata=None, client_reference_id=None):
        intent = resources.PaymentIntent._api_retrieve(payment_intent)
        if intent.status != "succeeded":
            raise resources.UserError(400, "The PaymentIntent has not succeeded")
        super().__init__()
        self.mode = "payment"
        self.status = "complete"
        self.payment_status = "paid"
        self.payment_intent = intent.id
        self.amount_total = intent.amount
        self.currency = intent.currency
        self.metadata = metadata or {}
        self.client_reference_id = client_reference_id

    @classmethod
    def _api_list_all(cls, url, payment_intent=None, limit=None, starting_after=None):
        li = super()._api_list_all(url, limit=limit, starting_after=starting_after)
        if payment_intent is not None:
            li._list = [s for s in li._list if s.payment_intent == payment_intent]
        li._list.sort(key=lambda s: s.created, reverse=True)
        return li


async def make_checkout_session(request):
    data = await server.get_post_data(request) or {}
    session = CheckoutSession(
        payment_intent=data.get("payment_intent"),
        metadata=data.get("metadata"),
        client_reference_id=data.get("client_reference_id"),
    )
    schedule_webhook(resources.Event("checkout.session.completed", session))
    return web.json_response(session._export())


server.app.router.add_post("/_config/payhook/checkout_sessions", make_checkout_session)


def dispute_balance_transaction(dispute, amount, category):
    # localstripe's BalanceTransaction accepts only "charge" and "refund" types; Stripe marks
    # a dispute's "adjustment", reporting category "dispute" or "dispute_reversal".
    txn = resources.BalanceTransaction(
        amount=amount,
        currency=dispute.currency,
        description="Chargeback" if amount < 0 else "Chargeback reversal",
        exchange_rate=1.0,
        reporting_category="charge",
        source=dispute.charge,
        type="charge",
    )
    txn.type = "adjustment"
    txn.reporting_category = category
    return txn


class Dispute(resources.StripeObject):
    object = "dispute"
    _id_prefix = "du_"

    def __init__(self, payment_intent=None):
        intent = resources.PaymentIntent._api_retrieve(payment_intent)
        charge = intent.latest_charge
        if intent.status != "succeeded" or charge is None:
            raise resources.UserError(400, "The PaymentIntent has no succeeded charge")
        if getattr(charge, "_payhook_dispute", None):
            raise resources.UserError(400, "The charge is disputed already")
        super().__init__()
        self.amount = charge.amount
        self.currency = charge.currency
        self.charge = charge.id
        self.payment_intent = intent.id
        self.reason = "fraudulent"
        self.status = "needs_response"
        self.balance_transactions = [
            dispute_balance_transaction(self, -self.amount, "dispute")
        ]
        charge._payhook_dispute = self.id

    @classmethod
    def _api_list_all(cls, url, payment_intent=None, limit=None, starting_after=None):
        li = super()._api_list_all(url, limit=limit, starting_after=starting_after)
        if payment_intent is not None:
            li._list = [d for d in li._list if d.payment_intent == payment_intent]
        li._list.sort(key=lambda d: d.created, reverse=True)
        return li


resources.Charge.disputed = property(lambda self: bool(getattr(self, "_payhook_dispute", None)))


async def open_dispute(request):
    data = await server.get_post_data(request) or {}
    dispute = Dispute(payment_intent=data.get("payment_intent"))
    schedule_webhook(resources.Event("charge.dispute.created", dispute))
    schedule_webhook(resources.Event("charge.dispute.funds_withdrawn", dispute))
    return web.json_response(dispute._export())


async def close_dispute(request):
    dispute = Dispute._api_retrieve(request.match_info["id"])
    data = await server.get_post_data(request) or {}
    outcome = data.get("outcome")
    if outcome not in ("won", "lost"):
        raise resources.UserError(400, "outcome must be won or lost")
    if dispute.status in ("won", "lost"):
        return web.json_response(dispute._export())
    if outcome == "won":
        dispute.balance_transactions.append(
            dispute_balance_transaction(dispute, dispute.amount, "dispute_reversal")
        )
        schedule_webhook(resources.Event("charge.dispute.funds_reinstated", dispute))
    dispute.status = outcome
    schedule_webhook(resources.Event("charge.dispute.closed", dispute))
    return web.json_response(dispute._export())


server.app.router.add_post("/_config/payhook/disputes", open_dispute)
server.app.router.add_post("/_config/payhook/disputes/{id}/close", close_dispute)
server.app.router.add_get("/v1/disputes/{id}", server.api_retrieve(Dispute, None))
server.app.router.add_get("/v1/disputes", server.api_list_all(Dispute, "/v1/disputes"))
server.app.router.add_get(
    "/v1/checkout/sessions/{id}", server.api_retrieve(CheckoutSession, None)
)
server.app.router.add_get(
    "/v1/checkout/sessions",
    server.api_list_all(CheckoutSession, "/v1/checkout/sessions"),
)

server.start()
