#!/bin/sh
# The baseline of `spotidoctor check`: the same probes done by hand, one after another, as
# someone following a troubleshooting guide would type them. Output is thrown away; only
# the wall time counts. DISPLAY, XAUTHORITY and the XDG dirs come from the environment.
#   by_hand.sh USER IMAGE STORAGE_DIR UID GID LAST_LAUNCH_LOG
set -u
user=$1 image=$2 storage=$3 uid=$4 gid=$5 log=$6

xdpyinfo >/dev/null                                    # the display answers (cookie works)
pactl info >/dev/null                                  # the pulse server answers
pactl list modules short >/dev/null                    # the container socket module is loaded
getsubids "$user" >/dev/null                           # subordinate uids
getsubids -g "$user" >/dev/null                        # subordinate gids
podman unshare cat /proc/self/uid_map >/dev/null       # podman's live mapping
podman image exists "$image"                           # the image is there
find "$storage/config" "$storage/cache" \( ! -uid "$uid" -o ! -gid "$gid" \) -print >/dev/null
grep -F 'FATAL:' "$log" >/dev/null                     # the last launch crashed?
exit 0
