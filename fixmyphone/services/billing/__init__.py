"""Money rules of the shop, one module per part of the job:

- ``totals``: what lines cost (net, tax, totals), computed here and only here.
- ``amounts``: amounts as typed and stored (whole minor units).
- ``balances``: what a repair or a sale still owes; what may still be refunded.
- ``charges``: what a repair costs now, and the rule "completed means paid" (no-charge too).
- ``labour``: bench labour recorded on a repair.
- ``issuing``: invoice numbers and the rule that an issued document never changes.
- ``invoices``: invoices from a repair's charges, deposits and counter sales.
- ``credit_notes``: credit notes, and crediting refunded money.
- ``books``: reports from the books (invoiced, unpaid with ageing, refunds).
"""
