# shellcheck shell=bash
# need_pkgs PKG...: install those of the host packages that are missing
# (one apt-get run; nothing when all are there), as scripts/deps.sh does.
# Sourced by scripts and tests; uses their die().
need_pkgs() {
	local p missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "installing ${missing[*]} on the host" >&2
	apt-get update -qq || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null ||
		die "apt-get install ${missing[*]} failed"
}
