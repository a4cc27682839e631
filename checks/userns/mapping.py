"""userns.mapping: podman's live user namespace maps the container uid as the files say."""
from __future__ import annotations

from spotidoctor.api import Check, CheckResult, Context, Fix, FixAvailability, Message
from spotidoctor.facts import MappingFacts
from spotidoctor.podman import subids
from spotidoctor.podman.idmaps import id_maps
from spotidoctor.podman.subids import IdMap
from spotidoctor.types import JSONValue

from .common import migrate_fix, ranges_from_fact

STALE_MAP = "podman's user namespace is stale: it maps {live}, the files say {expected}"
NOT_MAPPED = "container uid {uid} is not mapped by podman's user namespace ({live})"


def _classify_unshare_error(error: str) -> tuple[str, tuple[Message, ...], tuple[Fix, ...]]:
    if "podman system migrate" in error or "invalid internal status" in error:
        return ("podman's pause process is in a bad state", (Message.error(error),),
                (migrate_fix("the pause process is in a bad state"),))
    if "Operation not permitted" in error and ("uid_map" in error or "newuidmap" in error):
        return ("the kernel refused to set up the user namespace", (Message.error(
            error, "See `spotidoctor check userns.kernel userns.newuidmap` (AppArmor on Ubuntu 23.10+, "
            "or newuidmap without privilege)."),), ())
    return ("`podman unshare` failed", (Message.error(error),), ())


class UserNamespaceMapping(Check):
    """What it checks: the live maps of podman's rootless namespace (`podman unshare cat
    /proc/self/uid_map` and `gid_map`, or the same namespace's maps read from podman's pause
    process when it verifiably runs) agree with your subordinate ranges, and which host
    uid/gid the container user becomes: under the `isolated` profile the subordinate id
    (e.g. 1500 → 101499 for 100000:65536), under `keep-id` your own ids.

    Why it matters: podman keeps the namespace alive in a pause process, so edits to
    /etc/subuid take effect only after `podman system migrate`; storage must be
    owned by exactly the mapped ids. Publishes `host_uid`, `host_gid`, `uid_map`, `gid_map`.

    Fix safety: unsafe: `podman system migrate` stops your running containers.
    """

    id = "userns.mapping"
    title = "podman's user namespace maps the container user as configured"
    category = "system"
    requires = ("userns.kernel", "userns.newuidmap", "userns.subid-ranges", "userns.subid-overlap",
                "podman.installed")
    tags = frozenset({"launch"})
    timeout_s = 75.0
    fix_availability = FixAvailability.SOMETIMES

    def run(self, ctx: Context) -> CheckResult:
        maps = id_maps(ctx)
        if maps.uid_map is None or maps.gid_map is None:
            summary, messages, fixes = _classify_unshare_error(maps.error or "no id maps")
            return self.fail(summary, *messages, fixes=fixes)
        stale = self._stale(ctx, maps.uid_map, maps.gid_map)
        if stale:
            return self.fail(stale[0].text, *stale, facts=self._map_facts(maps.uid_map, maps.gid_map),
                             fixes=(migrate_fix("the subordinate ranges changed"),))
        return self._owner_result(ctx, maps.uid_map, maps.gid_map)

    def _stale(self, ctx: Context, uid_map: IdMap, gid_map: IdMap) -> list[Message]:
        stale = []
        for live, key, own in ((uid_map, "subuid_ranges", ctx.user.uid), (gid_map, "subgid_ranges", ctx.user.gid)):
            fact = ctx.prior_fact("userns.subid-ranges", key)
            if fact is None:
                continue  # run on its own: nothing to compare with
            ranges = ranges_from_fact(fact)
            expected = subids.default_map(own, ranges)
            if live != expected:
                stale.append(Message.error(STALE_MAP.format(live=live.render(), expected=expected.render()),
                                           "This happens when /etc/subuid or /etc/subgid changed after podman "
                                           "started its pause process."))
        return stale

    @staticmethod
    def _map_facts(uid_map: IdMap, gid_map: IdMap) -> dict[str, JSONValue]:
        return {"uid_map": uid_map.to_json(), "gid_map": gid_map.to_json()}

    def _owner_result(self, ctx: Context, uid_map: IdMap, gid_map: IdMap) -> CheckResult:
        container_uid = ctx.config.container_uid
        facts = self._map_facts(uid_map, gid_map)
        sub_uid, sub_gid = uid_map.to_host(container_uid), gid_map.to_host(container_uid)
        facts.update(profile=ctx.config.profile, container_uid=container_uid,
                     isolated_host_uid=sub_uid, isolated_host_gid=sub_gid)
        if sub_uid is None or sub_gid is None:
            live = uid_map.render() if sub_uid is None else gid_map.render()
            return self.fail(NOT_MAPPED.format(uid=container_uid, live=live), facts=facts)
        if ctx.config.profile == "keep-id":
            facts.update(MappingFacts(ctx.user.uid, ctx.user.gid).to_json())
            return self.ok(f"profile keep-id: container uid {container_uid} is you "
                           f"({ctx.user.uid}:{ctx.user.gid})", facts=facts)
        facts.update(MappingFacts(sub_uid, sub_gid).to_json())
        return self.ok(f"container uid {container_uid} is host {sub_uid}:{sub_gid}", facts=facts)
