"""The in-process hub and the wake-up payloads: pure, no sockets."""

from __future__ import annotations

from dataclasses import dataclass, field

from careerlog.server.fanout import Hub, parse_revocation, parse_wakeup


@dataclass
class Recorder:
    heard: list[str] = field(default_factory=list)

    def wake(self, head: int | None) -> None:
        self.heard.append(f"wake {head}")

    def revoke(self) -> None:
        self.heard.append("revoke")

    def replace(self) -> None:
        self.heard.append("replace")

    def shutdown(self) -> None:
        self.heard.append("shutdown")


def test_a_wake_up_reaches_the_users_other_connections_only() -> None:
    hub = Hub()
    laptop, phone, bobs = Recorder(), Recorder(), Recorder()
    hub.attach(1, "laptop", laptop)
    hub.attach(1, "phone", phone)
    hub.attach(2, "laptop", bobs)
    hub.wake(1, 7, skip=laptop)
    assert (laptop.heard, phone.heard, bobs.heard) == ([], ["wake 7"], [])


def test_a_newer_connection_replaces_the_older_and_detach_keeps_the_newer() -> None:
    hub = Hub()
    older, newer = Recorder(), Recorder()
    hub.attach(1, "laptop", older)
    hub.attach(1, "laptop", newer)
    assert older.heard == ["replace"]
    hub.detach(1, "laptop", older)  # the older one closing must not drop the newer
    hub.wake(1, 3)
    assert newer.heard == ["wake 3"]
    hub.detach(1, "laptop", newer)
    assert hub.connections() == 0


def test_revoke_targets_one_device_and_wake_all_everyone() -> None:
    hub = Hub()
    laptop, phone = Recorder(), Recorder()
    hub.attach(1, "laptop", laptop)
    hub.attach(2, "phone", phone)
    hub.revoke(1, "laptop")
    hub.revoke(1, "ghost")
    hub.wake_all()
    hub.shutdown()
    assert laptop.heard == ["revoke", "wake None", "shutdown"]
    assert phone.heard == ["wake None", "shutdown"]


def test_payloads_are_parsed_and_junk_ignored() -> None:
    assert parse_wakeup("12:40") == (12, 40)
    assert parse_wakeup("12") is None
    assert parse_wakeup("x:1") is None
    assert parse_revocation("3:work:laptop") == (3, "work:laptop")
    assert parse_revocation("3:") is None
    assert parse_revocation("three:laptop") is None
