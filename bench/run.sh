#!/usr/bin/env bash
# bench/run.sh — `make bench`: eventfold vs plain goka vs Kafka Streams, side
# by side on one Apache Kafka broker in one run. See bench/README.md.
#
#   bash bench/run.sh                      # 2M events (about 9 minutes on 2 cores)
#   BENCH_EVENTS=200000 bash bench/run.sh  # quick run (about 4 minutes)
#   bash bench/run.sh --events 500000 --contenders eventfold,goka
#
# Environment (flags win):
#   BENCH_EVENTS (2000000)   BENCH_ENTITIES (100000)   BENCH_CONTENDERS (all)
#   BENCH_LOOKUP_SECONDS (10, 0 skips lookups)   BENCH_PROFILE_SECONDS (10, 0: no pprof)
#   BENCH_REPEAT (2: eventfold, goka and eventfold without history run twice, the best counts)
#   BENCH_KAFKA_PORT (29092)  BENCH_KAFKA_HEAP (-Xmx1g)  BENCH_WORK (bench/.work)
#   BENCH_OUT (bench/results.md)  BENCH_KEEP (1: keep Kafka's data and the state dirs)
#
# Needs Go; installs Java 17 and Maven with apt-get when missing. Writes the
# report to bench/results.md and prints it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

EVENTS=${BENCH_EVENTS:-2000000}
ENTITIES=${BENCH_ENTITIES:-100000}
CONTENDERS=${BENCH_CONTENDERS:-eventfold,eventfold-2,goka,kstreams,eventfold-nohistory}
LOOKUP_SECONDS=${BENCH_LOOKUP_SECONDS:-10}
PROFILE_SECONDS=${BENCH_PROFILE_SECONDS:-10}
REPEAT=${BENCH_REPEAT:-2}
KAFKA_PORT=${BENCH_KAFKA_PORT:-29092}
WORK=${BENCH_WORK:-$ROOT/bench/.work}
OUT=${BENCH_OUT:-$ROOT/bench/results.md}
KEEP=${BENCH_KEEP:-0}
export EVENTFOLD_KAFKA_HEAP=${BENCH_KAFKA_HEAP:--Xmx1g}

while [ $# -gt 0 ]; do
	case "$1" in
	--events) EVENTS=$2; shift 2 ;;
	--entities) ENTITIES=$2; shift 2 ;;
	--contenders) CONTENDERS=$2; shift 2 ;;
	--lookup-seconds) LOOKUP_SECONDS=$2; shift 2 ;;
	--quick) EVENTS=200000; shift ;;
	-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools

apt_install() {
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* yourself"
	local sudo=()
	[ "$(id -u)" = 0 ] || sudo=(sudo -n)
	log "installing $* (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq </dev/null >&2 || die "apt-get update failed"
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" </dev/null >&2 || die "apt-get install $* failed"
}

java_major() {
	local v
	v=$("$1" -version 2>&1 </dev/null | sed -n 's/.*version "\([0-9][0-9]*\)[."].*/\1/p' | head -n 1) || true
	echo "${v:-0}"
}

JAVA=""
find_jdk() {
	local c
	for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java 2>/dev/null || true)" /usr/lib/jvm/java-*-openjdk-*/bin/java; do
		[[ -n "$c" && -x "$c" ]] || continue
		# a JDK: javac beside java
		if [ "$(java_major "$c")" -ge 17 ] && [ -x "$(dirname "$(readlink -f "$c")")/javac" ]; then
			JAVA=$(readlink -f "$c")
			return 0
		fi
	done
	return 1
}

command -v go >/dev/null 2>&1 || die "Go is required (go.mod: $(sed -n 's/^go //p' go.mod))"
pkgs=()
find_jdk || pkgs+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
[ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"
find_jdk || die "no JDK 17+ found"
JAVA_HOME=$(dirname "$(dirname "$JAVA")")
export JAVA_HOME

# ---------------------------------------------------------------- build

T0=$(date +%s)
BIN=$ROOT/bench/.bin
mkdir -p "$BIN" "$WORK"
log "building the Go contenders"
for b in driver eventfold goka load; do
	go build -o "$BIN/$b" "./bench/$b"
done

KS=$ROOT/bench/kstreams
if [ ! -f "$KS/target/app.jar" ] || [ ! -d "$KS/target/lib" ] ||
	[ -n "$(find "$KS/pom.xml" "$KS/src" -newer "$KS/target/app.jar" -type f 2>/dev/null | head -n 1)" ]; then
	log "building the Kafka Streams contender (Maven)"
	rm -rf "$KS/target/lib"
	(cd "$KS" && CI=true mvn -q -B -ntp -Dstyle.color=never package dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=target/lib </dev/null >&2) || die "mvn package failed"
fi
KS_CP="$KS/target/app.jar:$KS/target/lib/*"
"$BIN/driver" parity -java "$JAVA" -kstreams-cp "$KS_CP" >&2 || die "the Kafka Streams fold differs from orders.Evolve"

# ---------------------------------------------------------------- Kafka

KAFKA_LOCAL=$ROOT/deploy/kafka-local/kafka-local.sh
[ -f "$KAFKA_LOCAL" ] || die "$KAFKA_LOCAL is missing"
KDIR=$WORK/kafka
if [ -f "$KDIR/cluster.env" ]; then
	bash "$KAFKA_LOCAL" stop --dir "$KDIR" >&2 || true
fi
rm -rf "$KDIR"

cleanup() {
	local rc=$?
	bash "$KAFKA_LOCAL" stop --dir "$KDIR" >&2 || true
	if [ "$KEEP" != 1 ]; then
		rm -rf "$KDIR" "$WORK"/state-*
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting Kafka 4.1.1 (1 node, port $KAFKA_PORT, heap $EVENTFOLD_KAFKA_HEAP)"
BOOTSTRAP=$(bash "$KAFKA_LOCAL" start --nodes 1 --dir "$KDIR" --base-port "$KAFKA_PORT" | tail -n 1)
[ -n "$BOOTSTRAP" ] || die "kafka-local.sh start printed no bootstrap servers"
log "Kafka at $BOOTSTRAP"

CMD="make bench"
[ "$EVENTS" = 2000000 ] || CMD="BENCH_EVENTS=$EVENTS make bench"
"$BIN/driver" run -brokers "$BOOTSTRAP" -events "$EVENTS" -entities "$ENTITIES" -contenders "$CONTENDERS" \
	-bin "$BIN" -java "$JAVA" -kstreams-cp "$KS_CP" -work "$WORK" -out "$OUT" \
	-lookup-duration "${LOOKUP_SECONDS}s" -profile-seconds "$PROFILE_SECONDS" -repeat "$REPEAT" \
	-kafka-pid-file "$KDIR/node-1/pid" -command "$CMD"
log "done in $(($(date +%s) - T0))s; report in $OUT"
