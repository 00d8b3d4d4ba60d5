#!/bin/sh
# Every manual page is clean under mandoc -Tlint.  References between the
# project's own pages are the one message allowed: they cannot be found
# until the pages are installed.
srcdir=${srcdir:-.}
if ! command -v mandoc >/dev/null 2>&1; then
	echo "skipped: mandoc is not installed (Debian: mandoc)"
	exit 77
fi
own='Xr (shmpoold 8|shmpoolctl 8|shmpool\.conf 5|libshmpool 3)( \([0-9]+ times\))?$'
status=0
for page in "$srcdir"/man/*.[0-9]; do
	out=$(mandoc -Tlint "$page" 2>&1 | grep -v 'outdated mandoc\.db' |
	      grep -Ev "STYLE: referenced manual not found: $own")
	if [ -n "$out" ]; then
		echo "$out"
		status=1
	else
		echo "ok: $page"
	fi
done
exit $status
