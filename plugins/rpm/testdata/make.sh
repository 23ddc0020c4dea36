#!/bin/sh
# Regenerates the rpmdb test databases in this directory with real tools (Debian 12):
#   apt-get install -y rpm db5.3-util gnupg sqlite3
# rpmbuild builds tiny packages, `rpm --justdb` installs them into an SQLite rpmdb (the only
# writable backend of Debian's rpm), and db5.3_load writes the same header blobs into a Berkeley
# DB hash `Packages` file the way rpm's bdb backend stores them (key: native-endian u32 header
# number). Output:
#   v1/rpmdb.sqlite   ecr-alpha 1.0, ecr-beta, gpg-pubkey
#   v2/rpmdb.sqlite   v1 with ecr-alpha upgraded to 1.1 and ecr-libs + ecr-big added
#   v2/Packages       the v2 headers as Berkeley DB hash (ecr-big's header needs overflow pages)
set -eu
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home"
mkdir -p "$HOME" "$work/specs"

spec() { # name version release license extra-preamble
  cat >"$work/specs/$1-$2.spec" <<SPEC
Name: $1
Version: $2
Release: $3
Summary: ecr-engine test package $1
License: $4
$5
%description
Test package for the ecr-engine rpm analyzer.
%install
mkdir -p %{buildroot}/usr/share/$1
echo $1 > %{buildroot}/usr/share/$1/README
%files
/usr/share/$1
SPEC
}

spec ecr-alpha 1.0 1.el9 MIT ""
spec ecr-alpha 1.1 2.el9 MIT ""
spec ecr-beta 3.4.5 6.el9 "GPL-2.0-or-later AND BSD-3-Clause" "Epoch: 2
Vendor: ECR Test Vendor"
# A source package that builds a differently named binary package, and a modularity label.
cat >"$work/specs/ecr-src.spec" <<'SPEC'
Name: ecr-src
Version: 1.2
Release: 3.module+el9.1.0+123+abcdef
Summary: source of ecr-libs
License: LGPL-2.1-only
BuildArch: noarch
%description
source
%package -n ecr-libs
Summary: libs
%description -n ecr-libs
libs
%install
mkdir -p %{buildroot}/usr/lib/ecr
echo lib > %{buildroot}/usr/lib/ecr/libecr.so.1
%files -n ecr-libs
/usr/lib/ecr/libecr.so.1
SPEC
# Many files: a header of ~30 KB, several Berkeley DB overflow pages.
cat >"$work/specs/ecr-big.spec" <<'SPEC'
Name: ecr-big
Version: 0.9
Release: 1
Summary: many files
License: Apache-2.0
BuildArch: noarch
%description
big
%install
mkdir -p %{buildroot}/usr/share/ecr-big/sub
for i in $(seq 1 400); do echo $i > %{buildroot}/usr/share/ecr-big/sub/file-with-a-longish-name-$i.txt; done
%files
/usr/share/ecr-big
SPEC

for s in "$work"/specs/*.spec; do
  target=noarch
  set -- --define "_topdir $work/top"
  case "$s" in
    *ecr-src.spec) set -- "$@" --define "modularitylabel ecr:el9:9010020230101:abcdef12" ;;
    *ecr-beta-*) target=x86_64 ;;
  esac
  rpmbuild --quiet -bb --target "$target" "$@" "$s"
done
rpms="$work/top/RPMS/*"

gpg --batch --passphrase '' --quick-gen-key 'ECR Test <test@example.invalid>' rsa2048 sign never 2>/dev/null
gpg --armor --export test@example.invalid >"$work/key.asc"

install_into() { # dbdir rpm...
  d=$1; shift
  rpm --dbpath "$d" --define '_db_backend sqlite' -i --justdb --nodeps --nosignature --ignorearch "$@"
}
rm -rf "$out/v1" "$out/v2"
mkdir -p "$out/v1" "$out/v2"
db1="$work/db1"; db2="$work/db2"
rpm --dbpath "$db1" --initdb
rpm --dbpath "$db1" --import "$work/key.asc"
install_into "$db1" $rpms/ecr-alpha-1.0-*.rpm $rpms/ecr-beta-*.rpm
cp -r "$db1" "$db2"
rpm --dbpath "$db2" --define '_db_backend sqlite' -U --justdb --nodeps --nosignature $rpms/ecr-alpha-1.1-*.rpm
install_into "$db2" $rpms/ecr-libs-*.rpm $rpms/ecr-big-*.rpm
# Fold the write-ahead log into the database file and drop the index tables' free pages, as
# `rpmdb --rebuilddb` would leave it in an image.
for d in "$db1" "$db2"; do
  sqlite3 "$d/rpmdb.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE; VACUUM;' >/dev/null
done
cp "$db1/rpmdb.sqlite" "$out/v1/rpmdb.sqlite"
cp "$db2/rpmdb.sqlite" "$out/v2/rpmdb.sqlite"

{
  printf 'VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END\n'
  sqlite3 "$db2/rpmdb.sqlite" 'SELECT hnum, hex(blob) FROM Packages ORDER BY hnum' | while IFS='|' read -r n blob; do
    printf ' %s\n %s\n' "$(printf '%08x' "$n" | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/')" "$(echo "$blob" | tr 'A-F' 'a-f')"
  done
  printf 'DATA=END\n'
} | db5.3_load "$out/v2/Packages"
ls -l "$out"/v1 "$out"/v2
