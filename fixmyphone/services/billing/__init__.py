"""The shop's money rules, one module per part of the job:

- ``totals``: what lines cost (net, tax, totals), worked out here and only here.
- ``amounts``: amounts as staff type them and as the books store them (minor units).
- ``balances``: what a repair or a sale still owes; what may still be refunded.
- ``charges``: what a repair costs now; "completed means paid"; the no-charge decision.
- ``estimates``: itemised estimates: reading them and building them line by line.
- ``approvals``: sending an estimate and the customer's decision on it.
- ``labour``: bench labour recorded on a repair.
- ``issuing``: invoice numbers and the rule that an issued document never changes.
- ``invoices``: invoices from a repair's charges, deposit invoices, counter-sale invoices.
- ``credit_notes``: credit notes, and crediting refunded invoiced money.
- ``payments``: what is due now, counter payments and their verification, succeeded/failed.
- ``stripe_gateway``: Stripe: the client, Checkout Sessions, its errors in words.
- ``refunds``: giving money back (Stripe or counter).
- ``webhooks``: Stripe's webhook events: stored once, applied to payments and refunds.
- ``review``: Stripe money that differs from its payment, held for an admin.
- ``cards``: cards saved with Stripe for a customer.
- ``counter``: the counter: find a repair, take its balance, complete it, receipts.
- ``sales``: walk-in accessory sales at the counter.
- ``books``: reports from the books: invoiced, unpaid invoices with ageing, refunds.
- ``ledger``: what the money rules need about one repair, read in few statements.
- ``summaries``: the customer's view of what repairs cost and what was paid.

Import the module you need (``from fixmyphone.services.billing import invoices``);
this package re-exports nothing.
"""
