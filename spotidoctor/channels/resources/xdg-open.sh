#!/bin/sh
# spotidoctor's xdg-open for the container: it opens nothing here. Each URL goes to
# spotidoctor on the host as one line written to a FIFO; spotidoctor accepts http, https
# and spotify: URIs only and opens them with the host's own xdg-open. Plain POSIX sh
# (dash, busybox): no other program is needed in the image.
fifo='@FIFO@'
max=@MAX_BYTES@
nl='
'
case "${1-}" in
  --help|--manual) echo "usage: xdg-open URL...  (spotidoctor: opens http, https and spotify: URLs on the host)"; exit 0;;
  --version) echo "xdg-open 1.2.1 (spotidoctor)"; exit 0;;
esac
if [ "$#" -eq 0 ]; then
  echo "xdg-open: no URL given" >&2
  exit 1
fi
status=0
for url in "$@"; do
  case "$url" in
    *"$nl"*|'') echo "xdg-open: refused: empty, or a line break in the URL" >&2; status=1; continue;;
  esac
  if [ "${#url}" -gt "$max" ]; then
    echo "xdg-open: refused: URL longer than $max characters" >&2
    status=1
    continue
  fi
  if [ ! -p "$fifo" ]; then
    echo "xdg-open: spotidoctor's URL channel is not there ($fifo)" >&2
    exit 3
  fi
  # One printf, one line, far below PIPE_BUF: a single write that arrives whole.
  if ! printf '%s\n' "$url" >"$fifo"; then
    echo "xdg-open: could not hand the URL to spotidoctor" >&2
    status=4
  fi
done
exit "$status"
