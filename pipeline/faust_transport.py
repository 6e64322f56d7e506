"""Faust's aiokafka transport with the consumer's fetch wait taken from the settings.

Faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` fixed. A
broker answers a fetch as soon as data arrives, so the wait only matters when
a partition is idle, except on brokers that hold every fetch for the full
wait (Tansu does): there each hop of the pipeline would add up to 1.5 s. The
wait is a setting (``kafka.fetch_max_wait_ms``) instead. Brokers are named
``aiopskafka://host:port``; the transport is registered on import.
"""

from __future__ import annotations

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

SCHEME = "aiopskafka"


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    fetch_max_wait_ms: int = 100

    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        # read when the consumer starts and builds its fetcher
        consumer._fetch_max_wait_ms = self.app.conf.aiops_fetch_max_wait_ms
        return consumer


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer


TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
