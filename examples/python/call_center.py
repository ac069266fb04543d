#!/usr/bin/env python3
"""A call-center integration with the IDIC suite, from Python.

When a call comes in, the telephony system knows the caller's number. This script does
what a call-center integration does with it:

1. resolve the caller: who is this? (IdentityService/Resolve)
2. get the context: what the agent should see (InteractionService/GetContext)
3. record the call (InteractionService/RecordInteraction, idempotent by the call id)
4. ask for an offer to make at the end of the call (CustomizationService/GetTailoredOffering)

The Python code for the contracts is generated from the repository's proto/ directory
with grpcio-tools at start, into a temporary directory (nothing generated is committed):

    pip install -r examples/python/requirements.txt
    python3 examples/python/call_center.py --server 127.0.0.1:50051 --phone "+44 20 7946 0958"

With authentication on, pass a key holding identity:read, interaction:read,
interaction:write and customization:read (--api-key or IDIC_API_KEY). On an empty suite,
--seed-caller first stores a record for the caller so that there is someone to find.
"""

import argparse
import os
import pathlib
import sys
import tempfile
import uuid

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]


def generate_stubs(proto_dir: pathlib.Path, out_dir: str) -> None:
    """Generates the messages and gRPC stubs of every .proto under proto_dir."""
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError:
        sys.exit("grpcio-tools is missing: pip install -r examples/python/requirements.txt")
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(path.relative_to(proto_dir)) for path in proto_dir.rglob("*.proto"))
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"-I{well_known}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            *files,
        ]
    )
    if status != 0:
        sys.exit(f"generating the Python code from {proto_dir} failed ({status})")
    sys.path.insert(0, out_dir)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default=os.environ.get("IDIC_SERVER", "127.0.0.1:50051"),
                        help="the suite's gRPC address (host:port; an http:// prefix is accepted)")
    parser.add_argument("--api-key", default=os.environ.get("IDIC_API_KEY"),
                        help="an API key of the suite, when authentication is on")
    parser.add_argument("--phone", default="+44 20 7946 0958", help="the caller's number")
    parser.add_argument("--call-id", default=None,
                        help="the telephony system's call id: recording the same call twice changes nothing")
    parser.add_argument("--agent", default="agent-007")
    parser.add_argument("--seed-caller", action="store_true",
                        help="first store a CRM record for the caller (for trying on an empty suite)")
    parser.add_argument("--proto-dir", default=str(REPOSITORY / "proto"))
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    import grpc

    with tempfile.TemporaryDirectory(prefix="idic-python-") as generated:
        generate_stubs(pathlib.Path(args.proto_dir), generated)
        from idic.v1 import common_pb2 as common
        from idic.v1 import customization_pb2 as customization
        from idic.v1 import customization_pb2_grpc as customization_grpc
        from idic.v1 import identity_pb2 as identity
        from idic.v1 import identity_pb2_grpc as identity_grpc
        from idic.v1 import interaction_pb2 as interaction
        from idic.v1 import interaction_pb2_grpc as interaction_grpc

        address = args.server.removeprefix("http://")
        metadata = [("authorization", f"Bearer {args.api_key}")] if args.api_key else []
        channel = grpc.insecure_channel(address)
        identity_client = identity_grpc.IdentityServiceStub(channel)
        interaction_client = interaction_grpc.InteractionServiceStub(channel)
        customization_client = customization_grpc.CustomizationServiceStub(channel)

        if args.seed_caller:
            record = identity.SourceRecord(
                source_system="crm",
                source_record_id="python-example-caller",
                channel=common.CHANNEL_CALL_CENTER,
                name=identity.PersonName(given="Ada", family="Lovelace"),
                phones=[args.phone],
                emails=["ada.lovelace@example.com"],
            )
            seeded = identity_client.UpsertRecord(
                identity.UpsertRecordRequest(record=record), metadata=metadata, timeout=10)
            print(f"seeded caller record crm:python-example-caller -> {seeded.customer_id}")

        # 1. Who is calling?
        phone = common.Identifier(kind=common.IDENTIFIER_KIND_PHONE, value=args.phone)
        resolved = identity_client.Resolve(
            identity.ResolveRequest(identifier=phone, max_candidates=3), metadata=metadata, timeout=5)
        if resolved.candidates:
            best = resolved.candidates[0]
            print(f"caller: {best.customer_id} {best.display_name!r} "
                  f"(probability {best.probability:.2f}, matched on {', '.join(best.matched_fields)})")
            customer = common.CustomerRef(customer_id=best.customer_id)
        else:
            # An unknown number: the interaction service creates the customer when the
            # call is recorded under the number.
            print("caller: unknown number, a new customer will be created")
            customer = common.CustomerRef(identifier=phone)

        # 2. What the agent sees.
        context = interaction_client.GetContext(
            interaction.GetContextRequest(customer=customer, recent_limit=5), metadata=metadata, timeout=5)
        if context.customer_id:
            summary = context.customer
            value = context.value
            print(f"context: {summary.display_name or context.customer_id}, tier {value.tier or 'unknown'}, "
                  f"{context.interaction_count} earlier contacts, {len(context.open_threads)} open threads")
            if context.suggested_next_step.text:
                print(f"suggested next step: {context.suggested_next_step.text}")
            if context.degraded:
                print(f"context degraded (missing: {', '.join(context.degraded)})")

        # 3. Record the call (the call id makes a retry harmless).
        call_id = args.call_id or f"call-{uuid.uuid4()}"
        recorded = interaction_client.RecordInteraction(
            interaction.RecordInteractionRequest(
                customer=customer,
                channel=common.CHANNEL_CALL_CENTER,
                type=interaction.INTERACTION_TYPE_CALL,
                direction=interaction.DIRECTION_INBOUND,
                topic="delivery",
                summary="Asked where the last order is; tracking link sent.",
                agent=args.agent,
                idempotency_key=call_id,
            ),
            metadata=metadata,
            timeout=5,
        )
        customer_id = recorded.interaction.customer_id
        state = "already recorded" if recorded.duplicate else "recorded"
        print(f"call {state}: {recorded.interaction.interaction_id} for {customer_id}")

        # 4. What to offer before hanging up, with a reason for every choice.
        offering = customization_client.GetTailoredOffering(
            customization.GetTailoredOfferingRequest(
                customer=common.CustomerRef(customer_id=customer_id),
                channel=common.CHANNEL_CALL_CENTER,
                occasion="inbound call",
                idempotency_key=f"{call_id}-offer",
            ),
            metadata=metadata,
            timeout=5,
        )
        print(f"offering: {offering.offering_id}"
              + (f" (degraded, missing {', '.join(offering.missing_sources)})" if offering.degraded else ""))
        for choice in offering.choices:
            slot = customization.Slot.Name(choice.slot).removeprefix("SLOT_").lower()
            print(f"  {slot}: {choice.component.name} - {choice.reason.text}")
        for gap in offering.gaps:
            slot = customization.Slot.Name(gap.slot).removeprefix("SLOT_").lower()
            print(f"  {slot}: nothing ({gap.reason})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # a gRPC error prints its status, not a traceback
        import grpc

        if isinstance(error, grpc.RpcError):
            sys.exit(f"the suite refused a call: {error.code().name}: {error.details()}")
        raise
