"""`order-platform dlq list|replay`: the command line of `dead_letter_redrive`.

`dlq list` also lists the group's parked events (they skip a version of their order and wait
for it: not dead, released by themselves once it is applied), read from the store the group's
service keeps them in (`contracts.parked_events`): the read service's read model (MongoDB, its
live generation), the notifier's order progress (Redis). Which service a group belongs to comes
from `--service`, else from the environment (CONSUMER_GROUP, or the default group names).

Exit status: 0 done (also: nothing to redrive, or a dry run); 1 some chosen dead letter could
not be redriven (not in the DLQ, or its original is gone; each is printed with why); 2 bad
arguments or environment; 3 Kafka unreachable or too slow, or (`list`) the store of the
group's parked events, in one sentence on stderr (the dead letters are listed first; the
redrive mark is committed only after every send was acknowledged, so a failed replay has
moved nothing; it may have sent some, which the consumers' idempotence absorbs); 4 another
replay of the group (the console's or a command's) holds its lease: nothing was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from pydantic import ValidationError

from order_platform.building_blocks.runtime.settings import ServiceSettings
from order_platform.building_blocks.runtime.structured_logging import log_renamed_settings
from order_platform.contracts import dead_letter_headers as dlq
from order_platform.contracts.parked_events import (
    ParkedEvents,
    ParkedListing,
    ParkedStoreUnavailable,
)
from order_platform.operations.dead_letter_redrive import (
    DeadLetter,
    DeadLetterRedrive,
    KafkaUnavailable,
    Report,
    Skip,
    printable,
)
from order_platform.operations.redrive_lease import RedriveHeld

EXIT_OK = 0
EXIT_NOT_REDRIVEN = 1
EXIT_USAGE = 2
EXIT_KAFKA_UNAVAILABLE = 3
EXIT_REDRIVE_HELD = 4
PARKED_SHOWN = 1000  # parked events listed without --limit


@dataclass(frozen=True, slots=True)
class ParkingService:
    """A service whose consumer group parks events, and how `dlq list` reads them."""

    name: str  # as `--service` names it
    default_group: str
    configured_group: Callable[[], str]  # reads the service's environment
    open: Callable[[], ParkedEvents]


class UnknownService(Exception):
    """Which service's parked events to list cannot be told: the message says why."""


def parking_service(
    group: str, services: Sequence[ParkingService], chosen: str | None
) -> ParkingService:
    """The service `--service` names, else the one whose configured group is `group`, else
    the one whose default group it is; raises `UnknownService`."""
    if chosen is not None:
        for service in services:
            if service.name == chosen:
                return service
        raise UnknownService(f"no service named {chosen!r} parks events")
    configured = [service for service in services if service.configured_group() == group]
    if len(configured) == 1:
        return configured[0]
    by_default = [service for service in services if service.default_group == group]
    if len(by_default) == 1:
        return by_default[0]
    if configured:
        raise UnknownService(
            f"{group!r} is the group of {' and '.join(s.name for s in configured)} in this "
            "environment (CONSUMER_GROUP)"
        )
    names = ", ".join(f"{s.name} ({s.configured_group()})" for s in services)
    raise UnknownService(f"{group!r} is the group of none of {names}")


def add_dlq_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    services: Sequence[str] = ("read-service", "notification-service"),
) -> None:
    """Register `dlq list` and `dlq replay` on the CLI's subcommands."""
    dlq = commands.add_parser(
        "dlq",
        help="look at a consumer group's dead letters (and parked events), and send them back",
        description="Dead letters of one consumer group (<topic>.<group>.dlq). Reads "
        "KAFKA_BOOTSTRAP_SERVERS, KAFKA_ENABLE_IDEMPOTENCE and ORDER_EVENTS_TOPIC; `list` "
        "also reads the group's parked events with its service's environment: the read "
        "service's MONGODB_URI and MONGODB_DATABASE, the notifier's REDIS_URL and "
        "NOTIFICATION_DEDUP_KEY_PREFIX.",
    )
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="the dead letters, oldest first, then the parked events, each with the version "
        "it waits for (read-only)",
    )
    _common(listing)
    listing.add_argument(
        "--limit",
        type=_positive,
        help=f"show the oldest N dead letters and the first N parked events only (parked: "
        f"{PARKED_SHOWN} unless given)",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.add_argument(
        "--service",
        choices=services,
        help="whose group it is, for its parked events (default: told by the environment's "
        "CONSUMER_GROUP or the default group names)",
    )

    replay = actions.add_parser(
        "replay", help="send dead letters back to that group only, each at most once"
    )
    _common(replay)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--all", action="store_true", help="every dead letter not redriven before, oldest first"
    )
    which.add_argument(
        "--offset",
        action="append",
        type=_coordinates,
        metavar="PARTITION:OFFSET",
        help="this dead letter (repeatable), as `dlq list` shows it",
    )
    replay.add_argument(
        "--dry-run", action="store_true", help="say what would be sent, send nothing"
    )
    replay.add_argument(
        "--again", action="store_true", help="also send dead letters that were redriven before"
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--group", required=True, help="the consumer group, e.g. notification-service"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds each step against Kafka may take: reading a topic, fetching an "
        "original, sending, committing (default 10)",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _coordinates(text: str) -> tuple[int, int]:
    partition, _, offset = text.partition(":")
    if not (partition.isdigit() and offset.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not PARTITION:OFFSET, e.g. 0:42")
    return int(partition), int(offset)


def run_dlq(
    args: argparse.Namespace,
    out: TextIO | None = None,
    err: TextIO | None = None,
    services: Sequence[ParkingService] = (),
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    parked: ParkedEvents | None = None
    try:
        settings = ServiceSettings()
        if args.dlq_command == "list":
            try:
                parking = parking_service(args.group, services, getattr(args, "service", None))
            except UnknownService as why:
                print(
                    f"order-platform dlq: {why}: listing dead letters only (pass --service "
                    "to list its parked events too)",
                    file=err,
                )
            else:
                parked = parking.open()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()
        )
        print(f"order-platform dlq: invalid environment: {problems}", file=err)
        return EXIT_USAGE
    except ValueError as error:  # e.g. a REDIS_URL that is no URL
        print(f"order-platform dlq: invalid environment: {error}", file=err)
        return EXIT_USAGE
    log_renamed_settings(settings, command="order-platform-dlq")
    redrive = DeadLetterRedrive(
        settings.kafka_bootstrap_servers,
        topic=settings.order_events_topic,
        group=args.group,
        enable_idempotence=settings.kafka_enable_idempotence,
        timeout_seconds=args.timeout,
    )
    # aiokafka logs every failed connection attempt; the one sentence below says it all.
    kafka_log = logging.getLogger("aiokafka")
    level = kafka_log.level
    kafka_log.setLevel(logging.CRITICAL)
    try:
        if args.dlq_command == "list":
            letters, listing = asyncio.run(_listed(redrive, parked, args.limit))
            _print_letters(letters, as_json=args.json, out=out, topic=redrive.dlq_topic)
            if parked is None:
                return EXIT_OK
            if isinstance(listing, ParkedStoreUnavailable):
                print(f"order-platform dlq: {listing}", file=err)
                return EXIT_KAFKA_UNAVAILABLE
            _print_parked(listing, as_json=args.json, out=out, err=err, where=parked.where)
            return EXIT_OK
        report = asyncio.run(
            redrive.replay(
                None if args.all else args.offset, again=args.again, dry_run=args.dry_run
            )
        )
    except KafkaUnavailable as error:
        print(f"order-platform dlq: {error}", file=err)
        return EXIT_KAFKA_UNAVAILABLE
    except RedriveHeld as error:
        print(f"order-platform dlq: {error}", file=err)
        return EXIT_REDRIVE_HELD
    finally:
        kafka_log.setLevel(level)
    _print_report(report, redrive, dry_run=args.dry_run, out=out)
    not_redriven = [why for _, why in report.skipped if why is not Skip.ALREADY_REDRIVEN]
    return EXIT_NOT_REDRIVEN if not_redriven else EXIT_OK


async def _listed(
    redrive: DeadLetterRedrive, parked: ParkedEvents | None, limit: int | None
) -> tuple[list[DeadLetter], ParkedListing | ParkedStoreUnavailable]:
    """The dead letters, then (a store away is reported after them) the parked events."""
    try:
        letters = await redrive.dead_letters(limit)
        if parked is None:
            return letters, ParkedListing([], complete=True)
        try:
            return letters, await parked.parked(limit or PARKED_SHOWN)
        except ParkedStoreUnavailable as error:
            return letters, error
    finally:
        if parked is not None:
            await parked.close()


def _print_parked(
    listing: ParkedListing, *, as_json: bool, out: TextIO, err: TextIO, where: str
) -> None:
    more = "" if listing.complete else "there may be more parked events than listed (--limit)"
    if as_json:
        for event in listing.events:
            print(json.dumps(event.as_json(), ensure_ascii=False), file=out)
        if more:
            print(f"order-platform dlq: {more}", file=err)
        return
    if not listing.events:
        print(f"no parked events in {where}", file=out)
        return
    print(
        f"parked in {where} (not dead: each is applied by itself once the version it waits "
        "for is, e.g. redriven from the dead letters):",
        file=out,
    )
    for event in listing.events:
        print(
            f"  order {event.order_id}  version {event.version} {event.event_type or '?'}  "
            f"waiting for version {event.waiting_for}  event {event.event_id or '?'}",
            file=out,
        )
    if more:
        print(f"  ({more})", file=out)


def _print_letters(letters: list[DeadLetter], *, as_json: bool, out: TextIO, topic: str) -> None:
    if as_json:
        for letter in letters:
            print(json.dumps(letter.as_json(), ensure_ascii=False), file=out)
        return
    if not letters:
        print(f"no dead letters in {topic}", file=out)
        return
    for letter in letters:
        original = letter.original
        where = f"{original[0]}:{original[1]}:{original[2]}" if original else "?"
        key = letter.key.decode(errors="replace") if letter.key is not None else "-"
        extras = []
        if letter.by_reference:
            extras.append(f"by-reference={letter.header(dlq.VALUE_OMITTED)}")
        if letter.redrive_count:
            extras.append(f"redrives={letter.redrive_count}")
        print(
            f"{letter.coordinates}  {letter.when}  from {where}  key={printable(key, 80)}"
            f"{''.join('  ' + extra for extra in extras)}\n"
            f"    error: {printable(letter.error)}\n"
            f"    value: {letter.preview}",
            file=out,
        )


def _print_report(
    report: Report, redrive: DeadLetterRedrive, *, dry_run: bool, out: TextIO
) -> None:
    verb = "would redrive" if dry_run else "redrove"
    for letter, placed in report.sent:
        target = redrive.redrive_topic if dry_run else placed
        print(f"{verb} {letter.coordinates} -> {target}", file=out)
    for coordinates, why in report.skipped:
        print(f"skipped {coordinates}: {why}", file=out)
    summary = f"{verb} {len(report.sent)}, skipped {len(report.skipped)}"
    if report.below_mark:
        summary += f", {report.below_mark} redriven by an earlier replay"
    if report.committed:
        marks = ", ".join(f"{p}:{o}" for p, o in sorted(report.committed.items()))
        summary += f"; redrive mark of {redrive.group} now {marks}"
    print(summary, file=out)
