"""The outbox between worker and alerting: bounded, ordered, and each item acknowledged with a reply or an error."""

from __future__ import annotations

import asyncio

import pytest

from aiops.alerting.outbox import AlertingLink, Outbox


class TestOutbox:
    async def test_items_come_out_in_the_order_they_were_put(self):
        box = Outbox(maxsize=8)
        receipts = [await box.put(i) for i in range(5)]
        taken = []
        while (parcel := box.get_nowait()) is not None:
            taken.append(parcel.item)
            parcel.settle(parcel.item * 10)
        assert taken == [0, 1, 2, 3, 4]
        assert [await r for r in receipts] == [0, 10, 20, 30, 40]

    async def test_a_full_outbox_holds_the_writer_until_the_reader_takes_one(self):
        box = Outbox(maxsize=2)
        await box.put("a")
        await box.put("b")
        third = asyncio.ensure_future(box.put("c"))
        await asyncio.sleep(0.05)
        assert not third.done() and len(box) == 2
        first = await box.get()
        await asyncio.wait_for(third, 1)
        assert first.item == "a" and len(box) == 2

    async def test_the_writer_sees_the_readers_error(self):
        box = Outbox()

        async def reader():
            parcel = await box.get()
            parcel.fail(ValueError(f"cannot use {parcel.item!r}"))

        task = asyncio.ensure_future(reader())
        with pytest.raises(ValueError, match="cannot use 'x'"):
            await box.ask("x")
        await task

    async def test_a_receipt_is_settled_once(self):
        box = Outbox()
        receipt = await box.put("x")
        parcel = await box.get()
        parcel.settle("first")
        parcel.fail(RuntimeError("late"))
        parcel.settle("second")
        assert await receipt == "first"

    async def test_an_unawaited_failed_receipt_is_not_reported_as_lost(self, recwarn):
        """The reader handled the error; asyncio must not log 'exception was never retrieved' for it."""
        box = Outbox()
        receipt = await box.put("x")
        (await box.get()).fail(RuntimeError("handled by the reader"))
        await asyncio.sleep(0)
        assert receipt.done() and not receipt._log_traceback

    def test_an_outbox_holds_at_least_one_item(self):
        with pytest.raises(ValueError):
            Outbox(maxsize=0)

    def test_a_link_is_two_distinct_outboxes(self):
        link = AlertingLink()
        assert link.worker_outbox is not link.alerting_outbox
        assert link.worker_outbox.maxsize < link.alerting_outbox.maxsize
