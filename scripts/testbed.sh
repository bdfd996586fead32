#!/usr/bin/env bash
# ringstack test bed: the Linux kernel as a peer, in network namespaces.
#
#   NAME-peer    the kernel peer: vsftpd (plain FTP + explicit FTPS), iptables loss, the optional TAP device
#   NAME-stack   the far end of the stack veth, up with no address: our user-space stack owns 198.18.x.2 there
#   NAME-kclient a kernel client (curl, `ringstack get --kernel`) with its own veth to the peer
#
# Usage: testbed.sh install
#        testbed.sh up [--name N] [--mtu N] [--offloads on|off] [--tap] [--tap-user U] [--files small|all|none]
#                      [--subnet 198.18.X.0/24] [--tap-subnet ...] [--kclient-subnet ...]
#                      [--ftp-port P] [--ftps-port P]
#        testbed.sh down [--name N]          testbed.sh status [--name N]        testbed.sh env [--name N]
#        testbed.sh impair [--name N] --loss P [--iface stack|tap|kclient|IF]
#        testbed.sh unimpair [--name N]
# docs/TESTBED.md explains the layout, the knobs and how to run without root.
set -euo pipefail
umask 022

readonly STATE_ROOT=/run/ringstack-testbed
readonly CACHE_ROOT=/var/tmp/ringstack-testbed
readonly FILES_DIR=$CACHE_ROOT/files
readonly BEDS_DATA=$CACHE_ROOT/beds
readonly TLS_DIR=$CACHE_ROOT/tls
readonly PASSWORD_FILE=$CACHE_ROOT/rsftp.password
readonly FTP_USER=rsftp
readonly PAM_SERVICE=ringstack-testbed-vsftpd
readonly IMPAIR_CHAIN=RSBED_IMPAIR
# Test files: name and size. Content is an AES-128-CTR keystream under a fixed key, so every machine makes the
# same bytes and every smaller file is a prefix of the bigger ones.
readonly FILE_NAMES=(0B 1B 1KiB 1MiB 100MiB 1GiB)
readonly FILE_SIZES=(0 1 1024 1048576 104857600 1073741824)
readonly SMALL_LIMIT=1048576
FILES_LIMIT=-1
readonly FILE_KEY=72696e67737461636b2d7465737462 # "ringstack-testb"
readonly FILE_IV=00000000000000000000000000000000
# The RFC 2544 benchmarking range: nothing the bed configures may fall outside it.
readonly ALLOWED_RANGE=198.18.0.0/15

die() { echo "testbed: $*" >&2; exit 1; }
note() { echo "testbed: $*" >&2; }

# ---------------------------------------------------------------------------------------------------------------
# install: the tools the bed needs, only the missing ones.
# ---------------------------------------------------------------------------------------------------------------
readonly -A PACKAGE_OF=(
  [ip]=iproute2 [ss]=iproute2 [vsftpd]=vsftpd [iptables]=iptables [ethtool]=ethtool [openssl]=openssl
  [curl]=curl [lftp]=lftp [wget]=wget [nc]=netcat-openbsd [flock]=util-linux [useradd]=passwd [chpasswd]=passwd [sha256sum]=coreutils [pgrep]=procps
)

find_tool() { PATH=$PATH:/usr/sbin:/sbin command -v "$1" 2>/dev/null; }

cmd_install() {
  [[ $EUID -eq 0 ]] || die "install needs root (apt-get)"
  local missing=() tool
  for tool in "${!PACKAGE_OF[@]}"; do
    find_tool "$tool" >/dev/null || missing+=("${PACKAGE_OF[$tool]}")
  done
  if ((${#missing[@]})); then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    note "installing ${missing[*]}"
    # Installing vsftpd must not start the distribution's own daemon on port 21 of the host: tell invoke-rc.d
    # (and deb-systemd-invoke) "not now" for the duration, unless the machine already has such a policy.
    local policy=/usr/sbin/policy-rc.d temporary_policy=0
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && temporary_policy=1
    fi
    # Wait for another apt/dpkg instead of failing on its lock.
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300) status=0
    "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2 || status=$?
    if ((status != 0)); then
      # A clean machine may have no package lists yet.
      "${apt[@]}" update >&2 && "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >&2 && status=0
    fi
    ((temporary_policy)) && rm -f "$policy"
    ((status == 0)) || die "apt-get install ${missing[*]} failed"
    if [[ " ${missing[*]} " == *" vsftpd "* && -d /run/systemd/system ]]; then
      systemctl disable vsftpd >/dev/null 2>&1 || true
    fi
  fi
  for tool in "${!PACKAGE_OF[@]}"; do
    find_tool "$tool" >/dev/null || die "$tool is still missing after installing ${PACKAGE_OF[$tool]}"
  done
  check_iptables
}

# Debian's iptables is the nft variant; fall back to the legacy one if this kernel has no nf_tables.
# check_iptables [NS]: probe in NS, or in a throwaway namespace when none is given.
IPTABLES=
check_iptables() {
  local candidate ns=${1:-rsbed-iptprobe-$$}
  [[ -n $IPTABLES ]] && return 0
  [[ $# -ge 1 ]] || ip netns add "$ns"
  for candidate in iptables iptables-legacy; do
    if find_tool "$candidate" >/dev/null && ip netns exec "$ns" "$candidate" -t raw -S PREROUTING >/dev/null 2>&1; then
      IPTABLES=$candidate
      break
    fi
  done
  [[ $# -ge 1 ]] || ip netns del "$ns"
  [[ -n $IPTABLES ]] || die "neither iptables nor iptables-legacy works in a network namespace on this kernel"
}

# ---------------------------------------------------------------------------------------------------------------
# Arguments and the bed's facts
# ---------------------------------------------------------------------------------------------------------------
NAME=rsbed MTU=1500 OFFLOADS=on TAP=0 TAP_USER='' FILES=all FTP_PORT=21 FTPS_PORT=2121
SUBNET=198.18.0.0/24 TAP_SUBNET=198.18.1.0/24 KCLIENT_SUBNET=198.18.2.0/24 LOSS='' LOSS_IFACE=''

need_value() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value"; }

parse_args() {
  while (($#)); do
    case $1 in
      --name) need_value "$@"; NAME=$2; shift ;;
      --mtu) need_value "$@"; MTU=$2; shift ;;
      --offloads) need_value "$@"; OFFLOADS=$2; shift ;;
      --tap) TAP=1 ;;
      --tap-user) need_value "$@"; TAP=1; TAP_USER=$2; shift ;;
      --files) need_value "$@"; FILES=$2; shift ;;
      --subnet) need_value "$@"; SUBNET=$2; shift ;;
      --tap-subnet) need_value "$@"; TAP_SUBNET=$2; shift ;;
      --kclient-subnet) need_value "$@"; KCLIENT_SUBNET=$2; shift ;;
      --ftp-port) need_value "$@"; FTP_PORT=$2; shift ;;
      --ftps-port) need_value "$@"; FTPS_PORT=$2; shift ;;
      --loss) need_value "$@"; LOSS=$2; shift ;;
      --iface) need_value "$@"; LOSS_IFACE=$2; shift ;;
      *) die "unknown argument '$1' (see the usage at the top of $0)" ;;
    esac
    shift
  done
  # Interface names are NAME plus 3 characters and must fit IFNAMSIZ-1 = 15.
  [[ $NAME =~ ^[a-z][a-z0-9]{0,11}$ ]] || die "bad --name '$NAME': 1-12 characters, [a-z][a-z0-9]*"
  PEER_NS=$NAME-peer STACK_NS=$NAME-stack KCLIENT_NS=$NAME-kclient
  PEER_IF=$NAME-p0 STACK_IF=$NAME-s0 KCLIENT_PEER_IF=$NAME-pk KCLIENT_IF=$NAME-k0 TAP_IF=$NAME-t0
  STATE_DIR=$STATE_ROOT/$NAME
  DATA_DIR=$BEDS_DATA/$NAME
}

validate_up_args() {
  [[ $MTU =~ ^[0-9]{2,5}$ ]] && ((MTU >= 68 && MTU <= 65535)) || die "bad --mtu '$MTU': 68..65535"
  [[ $OFFLOADS == on || $OFFLOADS == off ]] || die "bad --offloads '$OFFLOADS': on or off"
  case $FILES in
    none) FILES_LIMIT=-1 ;;
    small) FILES_LIMIT=$SMALL_LIMIT ;;
    all) FILES_LIMIT=${FILE_SIZES[-1]} ;;
    *) die "bad --files '$FILES': small, all or none" ;;
  esac
  local port
  for port in "$FTP_PORT" "$FTPS_PORT"; do
    [[ $port =~ ^[0-9]{1,5}$ ]] && ((port >= 1 && port <= 65535)) && ((port < 40000 || port > 40099)) ||
      die "bad FTP port '$port': 1..65535, outside the passive range 40000-40099"
  done
  [[ $FTP_PORT != "$FTPS_PORT" ]] || die "--ftp-port and --ftps-port must differ"
  if [[ -n $TAP_USER ]]; then
    [[ $TAP_USER =~ ^[a-z_][a-z0-9_-]*$ ]] && id -u "$TAP_USER" >/dev/null 2>&1 || die "--tap-user '$TAP_USER' is not a user here"
  fi
  STACK_NET=$(subnet_base "$SUBNET" --subnet)
  TAP_NET=$(subnet_base "$TAP_SUBNET" --tap-subnet)
  KCLIENT_NET=$(subnet_base "$KCLIENT_SUBNET" --kclient-subnet)
  [[ $STACK_NET != "$KCLIENT_NET" && ($TAP == 0 || ($TAP_NET != "$STACK_NET" && $TAP_NET != "$KCLIENT_NET")) ]] ||
    die "the stack, TAP and kclient subnets must be different /24s"
}

# "198.18.7.0/24" -> "198.18.7" after checking it is a /24 network inside 198.18.0.0/15.
subnet_base() {
  local subnet=$1 knob=$2
  if [[ $subnet =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$ ]]; then
    local a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]} c=${BASH_REMATCH[3]} d=${BASH_REMATCH[4]} len=${BASH_REMATCH[5]}
    ((10#$c <= 255 && 10#$d <= 255)) || die "$knob '$subnet' is not an IPv4 network"
    if ((10#$a == 198 && (10#$b == 18 || 10#$b == 19))); then
      ((10#$len == 24 && 10#$d == 0)) || die "$knob '$subnet' must be a /24 network address (198.18.X.0/24)"
      echo "$((10#$a)).$((10#$b)).$((10#$c))"
      return 0
    fi
  fi
  die "$knob '$subnet' refused: the bed uses only addresses inside $ALLOWED_RANGE, as 198.18.X.0/24 or 198.19.X.0/24"
}

# ---------------------------------------------------------------------------------------------------------------
# Locking: one lock for every change to beds and the shared cache. Children must not inherit it (fd 9).
# ---------------------------------------------------------------------------------------------------------------
take_lock() {
  mkdir -p "$STATE_ROOT"
  exec 9>"$STATE_ROOT/.lock"
  flock -w 900 9 || die "another testbed.sh held $STATE_ROOT/.lock for 15 minutes"
}

netns_exists() { [[ -e /run/netns/$1 ]]; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ---------------------------------------------------------------------------------------------------------------
# Shared, made-once pieces: test files, TLS certificate, the FTP user and its PAM service
# ---------------------------------------------------------------------------------------------------------------
make_files() {
  local limit=$1 i name size tmp
  mkdir -p "$FILES_DIR"
  chmod 755 "$CACHE_ROOT" "$FILES_DIR"
  for i in "${!FILE_NAMES[@]}"; do
    name=${FILE_NAMES[$i]} size=${FILE_SIZES[$i]}
    ((size <= limit)) || continue
    if [[ -f $FILES_DIR/$name && $(stat -c %s "$FILES_DIR/$name") -eq $size && -f $FILES_DIR/.$name.sha256 ]]; then
      continue
    fi
    ((size < 100 * 1048576)) || note "making $name once in $FILES_DIR (reused afterwards)"
    tmp=$(mktemp "$FILES_DIR/.$name.XXXXXX")
    # openssl dies of SIGPIPE when head has enough: that is the expected end, not an error.
    { openssl enc -aes-128-ctr -K "$FILE_KEY" -iv "$FILE_IV" -nosalt -in /dev/zero 2>/dev/null || true; } |
      head -c "$size" >"$tmp"
    [[ $(stat -c %s "$tmp") -eq $size ]] || { rm -f "$tmp"; die "could not make $name ($size bytes)"; }
    chmod 644 "$tmp"
    mv -f "$tmp" "$FILES_DIR/$name"
    (cd "$FILES_DIR" && sha256sum "$name") >"$FILES_DIR/.$name.sha256"
  done
  # SHA256SUMS lists exactly the files present, from the digests taken when each was made.
  : >"$FILES_DIR/.SHA256SUMS.tmp"
  for name in "${FILE_NAMES[@]}"; do
    [[ -f $FILES_DIR/$name && -f $FILES_DIR/.$name.sha256 ]] && cat "$FILES_DIR/.$name.sha256" >>"$FILES_DIR/.SHA256SUMS.tmp"
  done
  chmod 644 "$FILES_DIR/.SHA256SUMS.tmp"
  mv -f "$FILES_DIR/.SHA256SUMS.tmp" "$FILES_DIR/SHA256SUMS"
}

make_certificate() {
  [[ -s $TLS_DIR/cert.pem && -s $TLS_DIR/key.pem ]] && return 0
  mkdir -p "$TLS_DIR" && chmod 700 "$TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ringstack test bed" \
    -keyout "$TLS_DIR/key.pem.tmp" -out "$TLS_DIR/cert.pem.tmp" 2>/dev/null || die "openssl could not make a certificate"
  mv -f "$TLS_DIR/key.pem.tmp" "$TLS_DIR/key.pem"
  mv -f "$TLS_DIR/cert.pem.tmp" "$TLS_DIR/cert.pem"
}

ensure_ftp_users() {
  # vsftpd's anonymous sessions run as "ftp" (the Debian package makes it; a minimal system may not have it).
  id -u ftp >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ftp
  # vsftpd enters the user's home before its local_root: the home must exist (each bed's local_root is its own).
  local home=$CACHE_ROOT/rsftp-home
  mkdir -p "$home" && chmod 755 "$home"
  id -u "$FTP_USER" >/dev/null 2>&1 ||
    useradd --system --user-group --no-create-home --home-dir "$home" --shell /usr/sbin/nologin "$FTP_USER"
  [[ $(getent passwd "$FTP_USER" | cut -d: -f6) == "$home" ]] || usermod --home "$home" "$FTP_USER"
  if [[ ! -s $PASSWORD_FILE ]]; then
    (umask 077 && openssl rand -hex 12 >"$PASSWORD_FILE")
  fi
  echo "$FTP_USER:$(cat "$PASSWORD_FILE")" | chpasswd
  # Our own PAM service: Debian's /etc/pam.d/vsftpd also demands a login shell (pam_shells) and consults
  # /etc/ftpusers; the bed's user has neither and needs neither.
  local pam=/etc/pam.d/$PAM_SERVICE
  local want=$'# ringstack test bed (scripts/testbed.sh): password check only\nauth required pam_unix.so nodelay\naccount required pam_unix.so\nsession required pam_unix.so'
  [[ -f $pam && $(cat "$pam") == "$want" ]] || printf '%s\n' "$want" >"$pam"
}

# ---------------------------------------------------------------------------------------------------------------
# vsftpd
# ---------------------------------------------------------------------------------------------------------------
write_vsftpd_conf() {
  local conf=$1 port=$2 pasv_min=$3 pasv_max=$4 tls=$5 log=$6
  cat >"$conf" <<EOF
# written by scripts/testbed.sh for bed $NAME
listen=YES
listen_ipv6=NO
listen_port=$port
background=NO
seccomp_sandbox=NO
secure_chroot_dir=$STATE_DIR/empty
pam_service_name=$PAM_SERVICE
# Tests try wrong passwords on purpose: answer 530 at once.
delay_failed_login=0
ftpd_banner=ringstack test bed $NAME
anonymous_enable=YES
anon_root=$FILES_DIR
no_anon_password=YES
anon_upload_enable=NO
anon_mkdir_write_enable=NO
anon_other_write_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
local_root=$DATA_DIR/home
chroot_local_user=YES
pasv_enable=YES
pasv_min_port=$pasv_min
pasv_max_port=$pasv_max
port_enable=YES
connect_from_port_20=NO
use_localtime=NO
dirmessage_enable=NO
xferlog_enable=YES
xferlog_std_format=NO
log_ftp_protocol=YES
vsftpd_log_file=$log
EOF
  if [[ $tls == yes ]]; then
    cat >>"$conf" <<EOF
ssl_enable=YES
rsa_cert_file=$TLS_DIR/cert.pem
rsa_private_key_file=$TLS_DIR/key.pem
allow_anon_ssl=YES
force_anon_logins_ssl=NO
force_anon_data_ssl=NO
force_local_logins_ssl=NO
force_local_data_ssl=NO
require_ssl_reuse=YES
ssl_ciphers=HIGH
EOF
  fi
}

# Start vsftpd inside the peer namespace and record exactly its PID (ip netns exec execs, so $! is vsftpd).
start_vsftpd() {
  local tag=$1 conf=$2 port=$3 pid i
  # vsftpd writes start-up errors ("500 OOPS: …") to fd 0, the control connection in inetd mode: make fd 0 the
  # .out file too, so they are kept.
  : >"$STATE_DIR/$tag.out"
  ip netns exec "$PEER_NS" vsftpd "$conf" <>"$STATE_DIR/$tag.out" 1>&0 2>&0 9>&- &
  pid=$!
  echo "$pid" >"$STATE_DIR/$tag.pid"
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      die "$tag exited at start: $(cat "$STATE_DIR/$tag.out" "$STATE_DIR/$tag.log" 2>/dev/null | tail -5)"
    fi
    if in_ns "$PEER_NS" ss -Hltn "sport = :$port" | grep -q LISTEN; then
      return 0
    fi
    sleep 0.05
  done
  die "$tag (PID $pid) is not listening on port $port after 5 s: $(tail -5 "$STATE_DIR/$tag.out" 2>/dev/null)"
}

# True if PID is a process this bed started (its command line names this bed's state directory).
is_our_process() {
  local pid=$1
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$STATE_DIR/"
}

# Stop one PID we started, and its session children (vsftpd forks one per connection), by PID.
stop_pid_tree() {
  local pid=$1 child i
  for child in $(pgrep -P "$pid" 2>/dev/null); do stop_pid_tree "$child"; done
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 40; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && return 0
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null || true
}

stop_vsftpds() {
  local tag pid
  for tag in vsftpd vsftpd-ftps; do
    [[ -f $STATE_DIR/$tag.pid ]] || continue
    pid=$(cat "$STATE_DIR/$tag.pid")
    if [[ $pid =~ ^[0-9]+$ ]] && is_our_process "$pid"; then
      stop_pid_tree "$pid"
    fi
    rm -f "$STATE_DIR/$tag.pid"
  done
  # A crashed run may have lost its PID files: any process left in our peer namespace whose command line names
  # this bed's state directory is still ours.
  if netns_exists "$PEER_NS"; then
    for pid in $(ip netns pids "$PEER_NS" 2>/dev/null); do
      is_our_process "$pid" && stop_pid_tree "$pid"
    done
  fi
  return 0
}

# ---------------------------------------------------------------------------------------------------------------
# up / down
# ---------------------------------------------------------------------------------------------------------------
knobs_signature() {
  echo "layout=2 mtu=$MTU offloads=$OFFLOADS tap=$TAP tap_user=$TAP_USER files=$FILES subnet=$SUBNET tap_subnet=$TAP_SUBNET" \
    "kclient_subnet=$KCLIENT_SUBNET ftp_port=$FTP_PORT ftps_port=$FTPS_PORT"
}

bed_healthy() {
  local ns tag pid
  for ns in "$PEER_NS" "$STACK_NS" "$KCLIENT_NS"; do netns_exists "$ns" || return 1; done
  [[ -f $STATE_DIR/env ]] || return 1
  for tag in vsftpd vsftpd-ftps; do
    pid=$(cat "$STATE_DIR/$tag.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && is_our_process "$pid" || return 1
  done
  in_ns "$STACK_NS" ip link show "$STACK_IF" >/dev/null 2>&1 || return 1
  ((TAP == 0)) || in_ns "$PEER_NS" ip link show "$TAP_IF" >/dev/null 2>&1 || return 1
}

# Namespaces of the bed: loopback up, no IPv6 (no router solicitations, DAD or MLD noise on the wire).
make_namespace() {
  local ns=$1
  ip netns add "$ns"
  in_ns "$ns" ip link set lo up
  if [[ -d /proc/sys/net/ipv6 ]]; then
    in_ns "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
  fi
}

set_offloads() {
  local ns=$1 dev=$2 state=$3
  # ethtool lists the dependent features it changed too ("Actual changes"); report only what it could not change.
  local out
  out=$(in_ns "$ns" ethtool -K "$dev" tso "$state" gso "$state" gro "$state" tx "$state" rx "$state" 2>&1) ||
    die "ethtool -K $dev $state failed: $out"
  grep -iE 'could not|cannot' <<<"$out" >&2 || true
}

cmd_up() {
  validate_up_args
  [[ $EUID -eq 0 ]] || die "up needs root (CAP_NET_ADMIN for namespaces); see docs/TESTBED.md"
  take_lock
  if [[ -f $STATE_DIR/knobs && $(cat "$STATE_DIR/knobs") == "$(knobs_signature)" ]] && bed_healthy; then
    note "bed $NAME is already up"
    return 0
  fi
  cmd_install
  bring_down # whatever is left of an earlier or crashed bed with this name
  # A failed up leaves nothing behind (its error message already carries vsftpd's complaint, if any).
  trap 'up_failed $?' EXIT
  make_files "$FILES_LIMIT"
  make_certificate
  ensure_ftp_users

  mkdir -p "$STATE_DIR/empty" && chmod 755 "$STATE_DIR" "$STATE_DIR/empty"
  # The local user's chroot must not be writable by the user (vsftpd refuses that); upload/ inside it is.
  mkdir -p "$DATA_DIR/home/upload"
  chown root:root "$DATA_DIR/home" && chmod 755 "$DATA_DIR" "$DATA_DIR/home"
  chown "$FTP_USER:$FTP_USER" "$DATA_DIR/home/upload" && chmod 755 "$DATA_DIR/home/upload"

  make_namespace "$PEER_NS"
  make_namespace "$STACK_NS"
  make_namespace "$KCLIENT_NS"

  # The stack link: peer end addressed, stack end up with no address so the kernel never answers for the stack.
  ip link add "$PEER_IF" netns "$PEER_NS" mtu "$MTU" type veth peer name "$STACK_IF" netns "$STACK_NS" mtu "$MTU"
  in_ns "$PEER_NS" ip addr add "$STACK_NET.1/24" dev "$PEER_IF"
  in_ns "$PEER_NS" ip link set "$PEER_IF" up
  in_ns "$STACK_NS" ip link set "$STACK_IF" up
  # Explicit either way: the kernel's veth default is everything on except GRO.
  set_offloads "$PEER_NS" "$PEER_IF" "$OFFLOADS"
  set_offloads "$STACK_NS" "$STACK_IF" "$OFFLOADS"

  # The kernel client link.
  ip link add "$KCLIENT_PEER_IF" netns "$PEER_NS" mtu "$MTU" type veth peer name "$KCLIENT_IF" netns "$KCLIENT_NS" mtu "$MTU"
  in_ns "$PEER_NS" ip addr add "$KCLIENT_NET.1/24" dev "$KCLIENT_PEER_IF"
  in_ns "$PEER_NS" ip link set "$KCLIENT_PEER_IF" up
  in_ns "$KCLIENT_NS" ip addr add "$KCLIENT_NET.2/24" dev "$KCLIENT_IF"
  in_ns "$KCLIENT_NS" ip link set "$KCLIENT_IF" up
  # The same setting as the stack link: the kernel's own clients (curl, lftp, Node's net) are the figures ours are
  # compared with, so with --offloads off the peer sends them MTU-sized frames too.
  set_offloads "$PEER_NS" "$KCLIENT_PEER_IF" "$OFFLOADS"
  set_offloads "$KCLIENT_NS" "$KCLIENT_IF" "$OFFLOADS"

  if ((TAP)); then
    local user_args=()
    [[ -n $TAP_USER ]] && user_args=(user "$TAP_USER")
    in_ns "$PEER_NS" ip tuntap add dev "$TAP_IF" mode tap "${user_args[@]}"
    in_ns "$PEER_NS" ip link set "$TAP_IF" mtu "$MTU"
    in_ns "$PEER_NS" ip addr add "$TAP_NET.1/24" dev "$TAP_IF"
    in_ns "$PEER_NS" ip link set "$TAP_IF" up
    if [[ -n $TAP_USER && $(stat -c %a /dev/net/tun 2>/dev/null) != 666 ]]; then
      note "$TAP_USER owns $TAP_IF, but /dev/net/tun is mode $(stat -c %a /dev/net/tun) here: the user cannot open it" \
        "(Debian's udev default is 0666; see docs/TESTBED.md)"
    fi
  fi

  write_vsftpd_conf "$STATE_DIR/vsftpd.conf" "$FTP_PORT" 40000 40049 no "$STATE_DIR/vsftpd.log"
  write_vsftpd_conf "$STATE_DIR/vsftpd-ftps.conf" "$FTPS_PORT" 40050 40099 yes "$STATE_DIR/vsftpd-ftps.log"
  start_vsftpd vsftpd "$STATE_DIR/vsftpd.conf" "$FTP_PORT"
  start_vsftpd vsftpd-ftps "$STATE_DIR/vsftpd-ftps.conf" "$FTPS_PORT"

  write_env
  knobs_signature >"$STATE_DIR/knobs"
  trap - EXIT
  note "bed $NAME is up (scripts/testbed.sh env --name $NAME)"
}

up_failed() {
  local status=$1
  ((status == 0)) && return 0
  note "up failed: removing what was made of bed $NAME"
  bring_down || true
  exit "$status"
}

link_mac() { in_ns "$1" cat "/sys/class/net/$2/address"; }

env_line() {
  [[ $2 =~ ^[A-Za-z0-9._/:,@+-]*$ ]] || die "internal: unsafe value for $1"
  printf '%s=%s\n' "$1" "$2"
}

write_env() {
  # The files this bed was asked for (the directory may hold bigger ones made for another bed).
  local files=() i
  for i in "${!FILE_NAMES[@]}"; do
    ((FILE_SIZES[i] <= FILES_LIMIT)) && files+=("${FILE_NAMES[$i]}")
  done
  {
    env_line RSBED_NAME "$NAME"
    env_line RSBED_STATE_DIR "$STATE_DIR"
    env_line RSBED_PEER_NS "$PEER_NS"
    env_line RSBED_STACK_NS "$STACK_NS"
    env_line RSBED_KCLIENT_NS "$KCLIENT_NS"
    env_line RSBED_MTU "$MTU"
    env_line RSBED_OFFLOADS "$OFFLOADS"
    env_line RSBED_PREFIX_LEN 24
    env_line RSBED_PEER_IF "$PEER_IF"
    env_line RSBED_PEER_IP "$STACK_NET.1"
    env_line RSBED_PEER_MAC "$(link_mac "$PEER_NS" "$PEER_IF")"
    env_line RSBED_STACK_IF "$STACK_IF"
    env_line RSBED_STACK_IP "$STACK_NET.2"
    env_line RSBED_STACK_MAC "$(link_mac "$STACK_NS" "$STACK_IF")"
    env_line RSBED_KCLIENT_PEER_IF "$KCLIENT_PEER_IF"
    env_line RSBED_KCLIENT_PEER_IP "$KCLIENT_NET.1"
    env_line RSBED_KCLIENT_IF "$KCLIENT_IF"
    env_line RSBED_KCLIENT_IP "$KCLIENT_NET.2"
    if ((TAP)); then
      env_line RSBED_TAP_IF "$TAP_IF"
      env_line RSBED_TAP_PEER_IP "$TAP_NET.1"
      env_line RSBED_TAP_STACK_IP "$TAP_NET.2"
      env_line RSBED_TAP_USER "$TAP_USER"
    else
      env_line RSBED_TAP_IF ""
      env_line RSBED_TAP_PEER_IP ""
      env_line RSBED_TAP_STACK_IP ""
      env_line RSBED_TAP_USER ""
    fi
    env_line RSBED_FTP_PORT "$FTP_PORT"
    env_line RSBED_FTPS_PORT "$FTPS_PORT"
    env_line RSBED_FTP_PASV_RANGE 40000-40049
    env_line RSBED_FTPS_PASV_RANGE 40050-40099
    env_line RSBED_FTP_USER "$FTP_USER"
    env_line RSBED_FTP_PASSWORD "$(cat "$PASSWORD_FILE")"
    env_line RSBED_FTP_USER_DIR /upload
    env_line RSBED_USER_UPLOAD_DIR "$DATA_DIR/home/upload"
    env_line RSBED_FILES_DIR "$FILES_DIR"
    env_line RSBED_FILES "$(IFS=,; echo "${files[*]}")"
    env_line RSBED_TLS_CERT "$TLS_DIR/cert.pem"
    env_line RSBED_VSFTPD_PID "$(cat "$STATE_DIR/vsftpd.pid")"
    env_line RSBED_VSFTPD_FTPS_PID "$(cat "$STATE_DIR/vsftpd-ftps.pid")"
  } >"$STATE_DIR/env.tmp"
  (umask 077 && cp "$PASSWORD_FILE" "$STATE_DIR/password")
  chmod 600 "$STATE_DIR/env.tmp"
  mv -f "$STATE_DIR/env.tmp" "$STATE_DIR/env"
}

# Tear down everything of bed NAME that exists; quiet and successful when nothing does.
bring_down() {
  stop_vsftpds
  if netns_exists "$PEER_NS"; then
    in_ns "$PEER_NS" ip link del "$TAP_IF" >/dev/null 2>&1 || true
    # Deleting one end of a veth deletes both, even if a leftover process keeps a namespace alive.
    in_ns "$PEER_NS" ip link del "$PEER_IF" >/dev/null 2>&1 || true
    in_ns "$PEER_NS" ip link del "$KCLIENT_PEER_IF" >/dev/null 2>&1 || true
  fi
  local ns pids
  for ns in "$PEER_NS" "$STACK_NS" "$KCLIENT_NS"; do
    netns_exists "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [[ -z $pids ]] || note "processes not started by the bed are still in $ns (PIDs $pids); they keep it alive"
    ip netns del "$ns"
  done
  rm -rf "$STATE_DIR" "$DATA_DIR"
}

cmd_down() {
  [[ $EUID -eq 0 ]] || die "down needs root"
  take_lock
  bring_down
}

# ---------------------------------------------------------------------------------------------------------------
# impair / unimpair: wire loss for packets arriving at the kernel peer (see docs/TESTBED.md for what it is not)
# ---------------------------------------------------------------------------------------------------------------
require_up() {
  [[ -f $STATE_DIR/env ]] && netns_exists "$PEER_NS" || die "bed $NAME is not up (scripts/testbed.sh up --name $NAME)"
}

remove_impairment() {
  local ipt=$1
  while in_ns "$PEER_NS" "$ipt" -t raw -D PREROUTING -j "$IMPAIR_CHAIN" 2>/dev/null; do :; done
  in_ns "$PEER_NS" "$ipt" -t raw -F "$IMPAIR_CHAIN" 2>/dev/null || true
  in_ns "$PEER_NS" "$ipt" -t raw -X "$IMPAIR_CHAIN" 2>/dev/null || true
}

cmd_impair() {
  [[ $EUID -eq 0 ]] || die "impair needs root"
  [[ -n $LOSS ]] || die "impair needs --loss P (0 < P <= 1)"
  [[ $LOSS =~ ^(0?\.[0-9]+|1(\.0*)?|0)$ ]] && awk -v p="$LOSS" 'BEGIN { exit !(p > 0 && p <= 1) }' ||
    die "bad --loss '$LOSS': a probability, 0 < P <= 1"
  take_lock
  require_up
  check_iptables "$PEER_NS"
  # --iface takes an interface of NAME-peer, or the link's role: stack, tap or kclient.
  case $LOSS_IFACE in
    stack) LOSS_IFACE=$PEER_IF ;;
    tap) LOSS_IFACE=$TAP_IF ;;
    kclient) LOSS_IFACE=$KCLIENT_PEER_IF ;;
  esac
  if [[ -n $LOSS_IFACE ]]; then
    [[ $LOSS_IFACE =~ ^[A-Za-z0-9._-]{1,15}$ ]] && in_ns "$PEER_NS" ip link show "$LOSS_IFACE" >/dev/null 2>&1 ||
      die "--iface '$LOSS_IFACE' is not an interface in $PEER_NS"
  fi
  remove_impairment "$IPTABLES"
  in_ns "$PEER_NS" "$IPTABLES" -t raw -N "$IMPAIR_CHAIN"
  local match=()
  [[ -n $LOSS_IFACE ]] && match=(-i "$LOSS_IFACE")
  in_ns "$PEER_NS" "$IPTABLES" -t raw -A "$IMPAIR_CHAIN" "${match[@]}" -m statistic --mode random --probability "$LOSS" -j DROP
  in_ns "$PEER_NS" "$IPTABLES" -t raw -I PREROUTING -j "$IMPAIR_CHAIN"
  echo "loss=$LOSS iface=${LOSS_IFACE:-all}" >"$STATE_DIR/impair"
}

cmd_unimpair() {
  [[ $EUID -eq 0 ]] || die "unimpair needs root"
  take_lock
  require_up
  check_iptables "$PEER_NS"
  remove_impairment "$IPTABLES"
  rm -f "$STATE_DIR/impair"
}

# ---------------------------------------------------------------------------------------------------------------
# status / env
# ---------------------------------------------------------------------------------------------------------------
status_of() {
  local line="$NAME:"
  if [[ ! -f $STATE_DIR/env ]] && ! netns_exists "$PEER_NS" && ! netns_exists "$STACK_NS" && ! netns_exists "$KCLIENT_NS"; then
    echo "$NAME: down"
    return 1
  fi
  # Read the knobs the bed was made with, so the health check looks for the TAP only if there is one.
  [[ -f $STATE_DIR/knobs && $(cat "$STATE_DIR/knobs") == *"tap=1"* ]] && TAP=1
  if bed_healthy; then line+=" up"; else line+=" broken (scripts/testbed.sh up --name $NAME rebuilds it)"; fi
  [[ -f $STATE_DIR/knobs ]] && line+=" [$(cat "$STATE_DIR/knobs")]"
  [[ -f $STATE_DIR/impair ]] && line+=" impaired: $(cat "$STATE_DIR/impair")"
  echo "$line"
  [[ $line == "$NAME: up"* ]]
}

cmd_status() {
  if [[ $NAME_GIVEN == 1 ]]; then
    status_of
    return
  fi
  local found=0 dir
  for dir in "$STATE_ROOT"/*/; do
    [[ -d $dir ]] || continue
    found=1
    parse_args --name "$(basename "$dir")"
    status_of || true
  done
  ((found)) || echo "no beds are up"
}

cmd_env() {
  require_up
  cat "$STATE_DIR/env"
}

main() {
  (($#)) || die "usage: testbed.sh install|up|down|status|env|impair|unimpair [--name N] [knobs]"
  local command=$1
  shift
  NAME_GIVEN=0
  [[ " $* " == *" --name "* ]] && NAME_GIVEN=1
  parse_args "$@"
  case $command in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    impair) cmd_impair ;;
    unimpair) cmd_unimpair ;;
    *) die "unknown command '$command': install, up, down, status, env, impair or unimpair" ;;
  esac
}

main "$@"
