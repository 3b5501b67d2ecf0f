#!/usr/bin/env bash
# kafka-local.sh — Apache Kafka 4.1.1 (KRaft, combined broker+controller
# nodes) on 127.0.0.1 for system tests, from Maven Central jars. Needs only
# Java 17+ and Maven, and installs both with apt-get when missing.
#
#   kafka-local.sh fetch
#   kafka-local.sh start [--nodes 1|3] [--dir DIR] [--base-port N] [--timeout S] [--sasl-ssl]
#   kafka-local.sh stop [--dir DIR] [--timeout S]
#   kafka-local.sh kill-node N [--dir DIR]
#   kafka-local.sh start-node N [--dir DIR] [--timeout S]
#   kafka-local.sh status [--dir DIR]
#   kafka-local.sh bootstrap [--dir DIR]
#
# `start` prints the bootstrap servers (127.0.0.1:19092,...) as the only
# line on stdout; everything else goes to stderr. With --sasl-ssl each node
# also has a SASL_SSL listener (port + 200; a test CA, mutual TLS, SCRAM and
# PLAIN users under DIR/tls and DIR/secrets) and that is the bootstrap
# printed. See README.md.
set -euo pipefail

KAFKA_VERSION=4.1.1
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
POM="$SCRIPT_DIR/pom.xml"
KAFKA_HOME=${EVENTFOLD_KAFKA_HOME:-${HOME:-/tmp}/.cache/eventfold/kafka-$KAFKA_VERSION}
LIB="$KAFKA_HOME/lib"
DEFAULT_DIR=${EVENTFOLD_KAFKA_DIR:-${TMPDIR:-/tmp}/eventfold-kafka-local}
DEFAULT_BASE_PORT=19092
CONTROLLER_OFFSET=100 # controller port = broker port + 100
SASL_SSL_OFFSET=200   # SASL_SSL port = broker port + 200 (start --sasl-ssl)
PROBE_TOPIC=kafka-local-probe
HEAP=${EVENTFOLD_KAFKA_HEAP:--Xmx512m}
JAVA=java

log() { printf 'kafka-local: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

usage() {
	sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# ---------------------------------------------------------------- tools

# apt_install PKG...: non-interactive install (CI: root, no stdin).
apt_install() {
	local sudo=()
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "need root or sudo to install: $*"
		sudo=(sudo -n)
	fi
	command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* yourself"
	log "installing $* (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq </dev/null >&2 || die "apt-get update failed"
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" </dev/null >&2 ||
		die "apt-get install $* failed"
}

# java_major BIN: the major version of a java binary (0 if unusable).
java_major() {
	local v
	v=$("$1" -version 2>&1 </dev/null | sed -n 's/.*version "\([0-9][0-9]*\)[."].*/\1/p' | head -n 1) || true
	echo "${v:-0}"
}

# find_java: set JAVA to a Java 17+ binary, or return 1.
find_java() {
	local c
	for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java 2>/dev/null || true)" \
		/usr/lib/jvm/java-*-openjdk-*/bin/java; do
		[[ -n "$c" && -x "$c" ]] || continue
		if [ "$(java_major "$c")" -ge 17 ]; then
			JAVA=$c
			return 0
		fi
	done
	return 1
}

# ensure_tools [mvn]: Java 17+ (and Maven), installed when missing.
ensure_tools() {
	local pkgs=()
	find_java || pkgs+=(openjdk-17-jre-headless)
	if [ "${1:-}" = mvn ] && ! command -v mvn >/dev/null 2>&1; then
		pkgs+=(maven)
	fi
	if [ ${#pkgs[@]} -gt 0 ]; then
		apt_install "${pkgs[@]}"
		find_java || die "no Java 17+ found after installing ${pkgs[*]}"
	fi
	if [ "${1:-}" = mvn ]; then
		command -v mvn >/dev/null 2>&1 || die "mvn not found after install"
		# Maven runs on JAVA_HOME when set; point it at the Java we found.
		JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$JAVA")")")
		export JAVA_HOME
	fi
}

# ---------------------------------------------------------------- fetch

pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }

have_jars() {
	[ -f "$LIB/.complete" ] && [ "$(cat "$LIB/.complete")" = "$(pom_sum)" ] &&
		[ -n "$(compgen -G "$LIB/kafka_2.13-$KAFKA_VERSION.jar")" ]
}

cmd_fetch() {
	[ $# -eq 0 ] || usage
	if have_jars; then
		log "jars already in $LIB"
		ensure_tools
		return 0
	fi
	ensure_tools mvn
	mkdir -p "$KAFKA_HOME"
	local tmp start
	tmp=$(mktemp -d "$KAFKA_HOME/lib.tmp.XXXXXX")
	start=$(date +%s)
	log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIB"
	if ! (cd "$SCRIPT_DIR" && CI=true mvn -B -ntp -Dstyle.color=never -f "$POM" \
		dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory="$tmp" </dev/null >"$KAFKA_HOME/fetch.log" 2>&1); then
		rm -rf "$tmp"
		tail -n 40 "$KAFKA_HOME/fetch.log" >&2
		die "mvn dependency:copy-dependencies failed (log: $KAFKA_HOME/fetch.log)"
	fi
	[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || {
		rm -rf "$tmp"
		die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"
	}
	pom_sum >"$tmp/.complete"
	rm -rf "$LIB.old"
	[ ! -e "$LIB" ] || mv "$LIB" "$LIB.old"
	mv "$tmp" "$LIB"
	rm -rf "$LIB.old"
	log "fetched $(find "$LIB" -name '*.jar' | wc -l) jars ($(du -sh "$LIB" | cut -f1)) in $(($(date +%s) - start))s"
}

# ---------------------------------------------------------------- cluster dir

DIR=""
NODES=""
BASE_PORT=""
TIMEOUT=""
CLUSTER_ID=""
SASL_SSL=""

# parse_opts ARGS...: the common options; sets DIR, NODES, BASE_PORT, TIMEOUT.
parse_opts() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--dir) DIR=${2:?--dir needs a value}; shift 2 ;;
		--dir=*) DIR=${1#*=}; shift ;;
		--nodes) NODES=${2:?--nodes needs a value}; shift 2 ;;
		--nodes=*) NODES=${1#*=}; shift ;;
		--base-port) BASE_PORT=${2:?--base-port needs a value}; shift 2 ;;
		--base-port=*) BASE_PORT=${1#*=}; shift ;;
		--timeout) TIMEOUT=${2:?--timeout needs a value}; shift 2 ;;
		--timeout=*) TIMEOUT=${1#*=}; shift ;;
		--sasl-ssl) SASL_SSL=1; shift ;;
		-h | --help) usage ;;
		*) die "unknown argument: $1 (see --help)" ;;
		esac
	done
	DIR=${DIR:-$DEFAULT_DIR}
	mkdir -p "$(dirname "$DIR")"
	DIR=$(cd "$(dirname "$DIR")" && pwd)/$(basename "$DIR")
	case "$TIMEOUT" in '' | *[!0-9]*) [ -z "$TIMEOUT" ] || die "--timeout: not a number: $TIMEOUT" ;; esac
}

# load_cluster: read DIR/cluster.env (written by start).
load_cluster() {
	[ -f "$DIR/cluster.env" ] || die "no kafka-local cluster in $DIR (run: kafka-local.sh start --dir $DIR)"
	local k v
	SASL_SSL=""
	while IFS='=' read -r k v; do
		case "$k" in
		NODES) NODES=$v ;;
		BASE_PORT) BASE_PORT=$v ;;
		CLUSTER_ID) CLUSTER_ID=$v ;;
		SASL_SSL) SASL_SSL=$v ;;
		esac
	done <"$DIR/cluster.env"
	[[ -n "$NODES" && -n "$BASE_PORT" ]] || die "$DIR/cluster.env is incomplete"
}

broker_port() { echo $((BASE_PORT + $1 - 1)); }
controller_port() { echo $((BASE_PORT + CONTROLLER_OFFSET + $1 - 1)); }
sasl_ssl_port() { echo $((BASE_PORT + SASL_SSL_OFFSET + $1 - 1)); }
node_dir() { echo "$DIR/node-$1"; }
replication() { if [ "$NODES" -lt 3 ]; then echo "$NODES"; else echo 3; fi; }
min_isr() { if [ "$(replication)" -lt 2 ]; then echo 1; else echo 2; fi; }

# bootstrap_servers: the PLAINTEXT listeners (the script's own probes).
bootstrap_servers() {
	local i out=""
	for ((i = 1; i <= NODES; i++)); do
		out="${out:+$out,}127.0.0.1:$(broker_port "$i")"
	done
	echo "$out"
}

# client_bootstrap: what start and bootstrap print: the SASL_SSL listeners
# of a --sasl-ssl cluster, else the PLAINTEXT ones.
client_bootstrap() {
	local i out=""
	if [ "$SASL_SSL" != 1 ]; then
		bootstrap_servers
		return
	fi
	for ((i = 1; i <= NODES; i++)); do
		out="${out:+$out,}127.0.0.1:$(sasl_ssl_port "$i")"
	done
	echo "$out"
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
	# shellcheck disable=SC2016 # $1 is the inner bash's
	timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# node_pid N: the pid of node N's broker process, or nothing. The pid file
# is trusted only if that process still runs this node's server.properties;
# otherwise /proc is searched for it (a lost or stale pid file).
node_pid() {
	local props pid f
	props="$(node_dir "$1")/server.properties"
	if [ -f "$(node_dir "$1")/pid" ]; then
		pid=$(cat "$(node_dir "$1")/pid" 2>/dev/null || true)
		if [ -n "$pid" ] && is_node_proc "$pid" "$props"; then
			echo "$pid"
			return 0
		fi
	fi
	for f in $(grep -a -l -F -e "$props" /proc/[0-9]*/cmdline 2>/dev/null || true); do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		if is_node_proc "$pid" "$props"; then
			echo "$pid"
			return 0
		fi
	done
	return 0
}

# is_node_proc PID PROPS: PID is a live kafka.Kafka process for PROPS.
is_node_proc() {
	local cmd
	cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
	case "$cmd" in
	*" kafka.Kafka $2"*) ;;
	*) return 1 ;;
	esac
	# a zombie (or a dying process) no longer counts
	[ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" != Z ]
}

# ---------------------------------------------------------------- config

write_config() {
	local i=$1 nd voters="" j
	nd=$(node_dir "$i")
	mkdir -p "$nd/data" "$nd/logs"
	for ((j = 1; j <= NODES; j++)); do
		voters="${voters:+$voters,}$j@127.0.0.1:$(controller_port "$j")"
	done
	local sasl_listener="" sasl_map=""
	if [ "$SASL_SSL" = 1 ]; then
		sasl_listener=",SASL_SSL://127.0.0.1:$(sasl_ssl_port "$i")"
		sasl_map=",SASL_SSL:SASL_SSL"
	fi
	{
		echo "# kafka-local node $i of $NODES (written by kafka-local.sh start)"
		echo "process.roles=broker,controller"
		echo "node.id=$i"
		echo "listeners=PLAINTEXT://127.0.0.1:$(broker_port "$i"),CONTROLLER://127.0.0.1:$(controller_port "$i")$sasl_listener"
		echo "advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$i"),CONTROLLER://127.0.0.1:$(controller_port "$i")$sasl_listener"
		echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$sasl_map"
		echo "inter.broker.listener.name=PLAINTEXT"
		echo "controller.listener.names=CONTROLLER"
		if [ "$NODES" = 1 ]; then
			# dynamic quorum, formatted with --standalone
			echo "controller.quorum.bootstrap.servers=127.0.0.1:$(controller_port 1)"
		else
			# static quorum
			echo "controller.quorum.voters=$voters"
		fi
		echo "log.dirs=$nd/data"
		echo
		echo "# tuned for tests"
		echo "num.partitions=1"
		echo "default.replication.factor=$(replication)"
		echo "min.insync.replicas=$(min_isr)"
		echo "auto.create.topics.enable=false"
		echo "offsets.topic.replication.factor=$(replication)"
		echo "transaction.state.log.replication.factor=$(replication)"
		echo "transaction.state.log.min.isr=$(min_isr)"
		echo "share.coordinator.state.topic.replication.factor=$(replication)"
		echo "share.coordinator.state.topic.min.isr=$(min_isr)"
		echo "group.initial.rebalance.delay.ms=0"
		echo "log.cleaner.backoff.ms=1000"
		echo "broker.heartbeat.interval.ms=500"
		echo "broker.session.timeout.ms=3000"
		echo "# stop takes the whole cluster down at once: a controlled shutdown"
		echo "# (moving leaders away first) has nowhere to go and, once the quorum"
		echo "# is gone, makes the last broker wait for a controller up to minutes"
		echo "controlled.shutdown.enable=false"
		[ "$SASL_SSL" != 1 ] || sasl_ssl_config
	} >"$nd/server.properties"

	{
		echo "# log4j2 for kafka-local node $i: files under $nd/logs"
		echo "status = warn"
		echo "name = kafka-local-node-$i"
		local a
		for a in server controller state-change; do
			echo "appender.$a.type = RollingFile"
			echo "appender.$a.name = $a"
			echo "appender.$a.fileName = $nd/logs/$a.log"
			echo "appender.$a.filePattern = $nd/logs/$a.log.%i"
			echo "appender.$a.layout.type = PatternLayout"
			echo "appender.$a.layout.pattern = [%d] %p %m (%c)%n"
			echo "appender.$a.policies.type = Policies"
			echo "appender.$a.policies.size.type = SizeBasedTriggeringPolicy"
			echo "appender.$a.policies.size.size = 50MB"
			echo "appender.$a.strategy.type = DefaultRolloverStrategy"
			echo "appender.$a.strategy.max = 3"
		done
		echo "rootLogger.level = INFO"
		echo "rootLogger.appenderRef.server.ref = server"
		echo "logger.request.name = kafka.request.logger"
		echo "logger.request.level = WARN"
		echo "logger.controller.name = org.apache.kafka.controller"
		echo "logger.controller.level = INFO"
		echo "logger.controller.additivity = false"
		echo "logger.controller.appenderRef.controller.ref = controller"
		echo "logger.kcontroller.name = kafka.controller"
		echo "logger.kcontroller.level = INFO"
		echo "logger.kcontroller.additivity = false"
		echo "logger.kcontroller.appenderRef.controller.ref = controller"
		echo "logger.statechange.name = state.change.logger"
		echo "logger.statechange.level = INFO"
		echo "logger.statechange.additivity = false"
		echo "logger.statechange.appenderRef.statechange.ref = state-change"
	} >"$nd/log4j2.properties"
}

# ---------------------------------------------------------------- SASL_SSL

# The users of a --sasl-ssl cluster: name and mechanism. Their passwords
# are random, in DIR/secrets/<name>.password.
SASL_USERS="alice:SCRAM-SHA-512 bob:SCRAM-SHA-256 carol:PLAIN"

password() { cat "$DIR/secrets/$1.password"; }

# make_tls: a test CA and, signed by it, the brokers' certificate
# (127.0.0.1, localhost) and a client certificate, in DIR/tls (openssl;
# PEM). The broker's key and chain are one PEM file, Kafka's PEM keystore.
make_tls() {
	command -v openssl >/dev/null 2>&1 || apt_install openssl
	local d="$DIR/tls"
	mkdir -p "$d"
	(
		cd "$d"
		openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=kafka-local test CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
			-keyout ca.key -out ca.pem
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >broker.ext
		printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >client.ext
		local who
		for who in broker client; do
			openssl req -newkey rsa:2048 -nodes -subj "/CN=kafka-local $who" -keyout "$who.key" -out "$who.csr"
			openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 \
				-extfile "$who.ext" -out "$who.crt"
		done
		cat broker.key broker.crt ca.pem >broker.pem
		chmod 600 ./*.key broker.pem
		rm -f ./*.csr ./*.ext ca.srl
	) >"$DIR/tls.log" 2>&1 || {
		cat "$DIR/tls.log" >&2
		die "openssl could not make the test certificates"
	}
	mkdir -p "$DIR/secrets"
	chmod 700 "$DIR/secrets"
	local u
	for u in $SASL_USERS; do
		(umask 077 && openssl rand -hex 16 >"$DIR/secrets/${u%%:*}.password")
	done
	log "SASL_SSL: CA $d/ca.pem, client certificate $d/client.crt (key client.key), users $SASL_USERS (passwords in $DIR/secrets)"
}

# scram_args: StorageTool format's --add-scram for each SCRAM user (KRaft
# keeps SCRAM credentials in the metadata log, written at format time).
scram_args() {
	local u name mech
	for u in $SASL_USERS; do
		name=${u%%:*}
		mech=${u#*:}
		case "$mech" in SCRAM-*) printf '%s\n' --add-scram "$mech=[name=$name,password=$(password "$name")]" ;; esac
	done
}

# sasl_ssl_config: the SASL_SSL listener's settings: TLS with the test CA,
# client certificates required (mutual TLS), SCRAM and PLAIN users.
sasl_ssl_config() {
	local plain="" u
	for u in $SASL_USERS; do
		[ "${u#*:}" != PLAIN ] || plain="$plain user_${u%%:*}=\"$(password "${u%%:*}")\""
	done
	echo
	echo "# SASL_SSL listener (start --sasl-ssl): TLS with the test CA in $DIR/tls,"
	echo "# client certificates required, SCRAM and PLAIN users"
	echo "listener.name.sasl_ssl.ssl.keystore.type=PEM"
	echo "listener.name.sasl_ssl.ssl.keystore.location=$DIR/tls/broker.pem"
	echo "listener.name.sasl_ssl.ssl.truststore.type=PEM"
	echo "listener.name.sasl_ssl.ssl.truststore.location=$DIR/tls/ca.pem"
	echo "listener.name.sasl_ssl.ssl.client.auth=required"
	echo "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN"
	echo "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
	echo "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
	echo "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain;"
}

# probe_sasl_ssl: every SASL_SSL port accepts connections.
probe_sasl_ssl() {
	local i
	for ((i = 1; i <= NODES; i++)); do
		port_open "$(sasl_ssl_port "$i")" || return 1
	done
}

# probe_ready: the cluster probe, and the SASL_SSL ports of such a cluster.
probe_ready() {
	probe_cluster || return 1
	[ "$SASL_SSL" != 1 ] || probe_sasl_ssl
}

# tool CLASS ARGS...: run a Kafka command-line class from the cache (short
# JVM: client-only JIT), logging WARN and up to stderr.
tool() {
	local class=$1
	shift
	timeout 120 "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$DIR/tools-log4j2.properties" \
		-cp "$LIB/*" "$class" "$@" </dev/null
}

write_tools_config() {
	cat >"$DIR/tools-log4j2.properties" <<'EOF'
status = warn
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = stderr
EOF
	cat >"$DIR/admin.properties" <<'EOF'
# admin client settings of the readiness probe: fail fast, retry in the script
request.timeout.ms=5000
default.api.timeout.ms=10000
socket.connection.setup.timeout.ms=2000
socket.connection.setup.timeout.max.ms=5000
EOF
}

# ---------------------------------------------------------------- processes

# launch N: start node N in the background, detached (own session, no
# inherited stdio, so `$(kafka-local.sh start)` and exec.Command return).
launch() {
	local i=$1 nd
	nd=$(node_dir "$i")
	[ -f "$nd/data/meta.properties" ] || die "node $i: $nd/data is not formatted"
	rm -f "$nd/pid"
	# shellcheck disable=SC2016,SC2086 # $$ is the inner bash's; HEAP may hold several options
	setsid bash -c 'echo $$ >"$1/pid"; shift; exec "$@"' _ "$nd" \
		"$JAVA" $HEAP -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		-Dkafka.logs.dir="$nd/logs" -Dlog4j2.configurationFile="$nd/log4j2.properties" \
		-cp "$LIB/*" kafka.Kafka "$nd/server.properties" \
		</dev/null >"$nd/logs/stdout.log" 2>&1 &
	# wait until the pid file is written and bash has exec'd the JVM
	local pid=""
	for _ in $(seq 1 100); do
		pid=$(cat "$nd/pid" 2>/dev/null || true)
		if [ -n "$pid" ]; then
			is_node_proc "$pid" "$nd/server.properties" || [ ! -d "/proc/$pid" ] && break
		fi
		sleep 0.1
	done
	log "node $i started (pid ${pid:-?}, broker 127.0.0.1:$(broker_port "$i"), controller 127.0.0.1:$(controller_port "$i"))"
}

# log_tails: the end of every node's logs, for a failure message.
log_tails() {
	local i nd f
	for ((i = 1; i <= NODES; i++)); do
		nd=$(node_dir "$i")
		for f in "$nd/logs/stdout.log" "$nd/logs/server.log"; do
			[ -s "$f" ] || continue
			printf '\n----- node %s: tail of %s -----\n' "$i" "$f" >&2
			tail -n 25 "$f" >&2
		done
	done
}

# probe_cluster: the probe topic (replication = all nodes, up to 3) can be
# created and has a leader and a full ISR: every broker is registered,
# unfenced and replicating. (wait_ready has checked every broker port.)
probe_cluster() {
	local bs out leader isr rf n
	bs=$(bootstrap_servers)
	rf=$(replication)
	tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --command-config "$DIR/admin.properties" \
		--create --if-not-exists --topic "$PROBE_TOPIC" --partitions 1 --replication-factor "$rf" \
		>"$DIR/probe.log" 2>&1 || return 1
	out=$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --command-config "$DIR/admin.properties" \
		--describe --topic "$PROBE_TOPIC" 2>>"$DIR/probe.log") || return 1
	echo "$out" >>"$DIR/probe.log"
	leader=$(echo "$out" | sed -n 's/.*Leader: \([-0-9]*\).*/\1/p' | head -n 1)
	isr=$(echo "$out" | sed -n 's/.*Isr: \([0-9,]*\).*/\1/p' | head -n 1)
	[ -n "$leader" ] && [ "$leader" -ge 0 ] || return 1
	n=$(echo "$isr" | tr ',' '\n' | grep -c . || true)
	[ "$n" -ge "$rf" ]
}

# probe_brokers IDS: the cluster metadata lists each broker in IDS as
# alive and each answers ApiVersions on its own port.
probe_brokers() {
	local out id
	out=$(tool org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server "$(bootstrap_servers)" \
		--command-config "$DIR/admin.properties" 2>>"$DIR/probe.log") || return 1
	echo "$out" | grep '(id: ' >>"$DIR/probe.log" || true
	for id in $1; do
		echo "$out" | grep -q "^127.0.0.1:$(broker_port "$id") (id: $id " || return 1
	done
	! echo "$out" | grep -q -- '-> ERROR'
}

# wait_ready DEADLINE WHAT CHECK...: poll until every node in NODES_UP runs
# and its broker port is open, then until CHECK succeeds.
wait_ready() {
	local deadline=$1 what=$2
	shift 2
	local i ok
	while :; do
		for i in $NODES_UP; do
			[ -n "$(node_pid "$i")" ] || {
				log_tails
				die "node $i exited during startup (logs above; all in $(node_dir "$i")/logs)"
			}
		done
		ok=1
		for i in $NODES_UP; do
			port_open "$(broker_port "$i")" || ok=0
		done
		if [ $ok = 1 ] && "$@"; then
			return 0
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			log_tails
			[ ! -s "$DIR/probe.log" ] || {
				printf '\n----- last readiness probe (%s) -----\n' "$DIR/probe.log" >&2
				tail -n 15 "$DIR/probe.log" >&2
			}
			die "$what is not ready after ${TIMEOUT}s (logs above; all in $DIR/node-*/logs)"
		fi
		sleep 1
	done
}

# terminate SIGNAL TIMEOUT PIDS...: signal and wait until all are gone;
# returns 1 if some are still alive at the timeout.
terminate() {
	local sig=$1 t=$2 deadline p alive
	shift 2
	[ $# -gt 0 ] || return 0
	kill "-$sig" "$@" 2>/dev/null || true
	deadline=$(($(date +%s) + t))
	while :; do
		alive=""
		for p in "$@"; do
			[ ! -d "/proc/$p" ] || [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$p/status" 2>/dev/null)" = Z ] ||
				alive="$alive $p"
		done
		[ -n "$alive" ] || break
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.2
	done
	# Dead processes are zombies until their parent (init, for nodes whose
	# starter has exited) reaps them: give it a moment, so that no java
	# process is listed when we return.
	for _ in $(seq 1 50); do
		alive=""
		for p in "$@"; do
			[ ! -d "/proc/$p" ] || alive=1
		done
		[ -n "$alive" ] || return 0
		sleep 0.1
	done
	return 0
}

# ---------------------------------------------------------------- commands

cmd_start() {
	parse_opts "$@"
	TIMEOUT=${TIMEOUT:-180}
	local want_nodes=$NODES want_base=$BASE_PORT want_sasl=$SASL_SSL i fresh=0 t0
	t0=$(date +%s)
	cmd_fetch
	if [ -f "$DIR/cluster.env" ]; then
		load_cluster
		[ -z "$want_nodes" ] || [ "$want_nodes" = "$NODES" ] ||
			die "$DIR holds a $NODES-node cluster, not $want_nodes (stop it and use another --dir)"
		[ -z "$want_base" ] || [ "$want_base" = "$BASE_PORT" ] ||
			die "$DIR uses base port $BASE_PORT, not $want_base"
		[ -z "$want_sasl" ] || [ "$SASL_SSL" = 1 ] ||
			die "$DIR holds a cluster without --sasl-ssl (stop it and use another --dir)"
		log "using the existing $NODES-node cluster in $DIR (nodes restart from their data)"
	else
		NODES=${want_nodes:-1}
		BASE_PORT=${want_base:-$DEFAULT_BASE_PORT}
		case "$NODES" in 1 | 3) ;; *) die "--nodes must be 1 or 3, not $NODES" ;; esac
		case "$BASE_PORT" in '' | *[!0-9]*) die "--base-port: not a number: $BASE_PORT" ;; esac
		((BASE_PORT >= 1024 && BASE_PORT + CONTROLLER_OFFSET + NODES <= 65535)) ||
			die "--base-port out of range: $BASE_PORT"
		if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
			die "$DIR exists and is not a kafka-local cluster dir (use an empty or new --dir)"
		fi
		fresh=1
	fi

	# ports must be free, except for nodes of this cluster that already run
	NODES_UP=""
	for ((i = 1; i <= NODES; i++)); do
		if [ -n "$(node_pid "$i")" ]; then
			NODES_UP="$NODES_UP $i"
			continue
		fi
		local p
		for p in "$(broker_port "$i")" "$(controller_port "$i")" ${SASL_SSL:+"$(sasl_ssl_port "$i")"}; do
			! port_open "$p" || die "port $p is in use (another Kafka? try --base-port)"
		done
	done

	mkdir -p "$DIR"
	write_tools_config
	if [ $fresh = 1 ]; then
		CLUSTER_ID=$(tool kafka.tools.StorageTool random-uuid | tail -n 1)
		[ -n "$CLUSTER_ID" ] || die "StorageTool random-uuid printed nothing"
		printf 'NODES=%s\nBASE_PORT=%s\nCLUSTER_ID=%s\nKAFKA_VERSION=%s\nSASL_SSL=%s\n' \
			"$NODES" "$BASE_PORT" "$CLUSTER_ID" "$KAFKA_VERSION" "$SASL_SSL" >"$DIR/cluster.env"
		log "new $NODES-node cluster $CLUSTER_ID in $DIR${SASL_SSL:+ with SASL_SSL listeners}"
		local standalone=() scram=()
		[ "$NODES" != 1 ] || standalone=(--standalone)
		if [ "$SASL_SSL" = 1 ]; then
			make_tls
			mapfile -t scram < <(scram_args)
		fi
		local fmt=()
		for ((i = 1; i <= NODES; i++)); do
			write_config "$i"
			# formatted in parallel: each is a JVM start
			tool kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$(node_dir "$i")/server.properties" \
				"${standalone[@]}" "${scram[@]}" >"$(node_dir "$i")/logs/format.log" 2>&1 &
			fmt+=($!)
		done
		for ((i = 1; i <= NODES; i++)); do
			wait "${fmt[$((i - 1))]}" || {
				cat "$(node_dir "$i")/logs/format.log" >&2
				die "formatting node $i failed"
			}
		done
	fi

	local started=""
	for ((i = 1; i <= NODES; i++)); do
		case " $NODES_UP " in *" $i "*) continue ;; esac
		launch "$i"
		started="$started $i"
	done
	NODES_UP=$(seq 1 "$NODES" | tr '\n' ' ')
	if ! (wait_ready $(($(date +%s) + TIMEOUT)) "the $NODES-node cluster" probe_ready); then
		# do not leave a half-started cluster behind
		local pids=() pid
		for i in $started; do
			pid=$(node_pid "$i")
			[ -z "$pid" ] || pids+=("$pid")
		done
		terminate KILL 10 "${pids[@]}" || true
		exit 1
	fi
	log "ready: $NODES node(s) in $(($(date +%s) - t0))s; dir $DIR; logs $DIR/node-*/logs"
	client_bootstrap
}

cmd_stop() {
	parse_opts "$@"
	TIMEOUT=${TIMEOUT:-30}
	if [ ! -f "$DIR/cluster.env" ]; then
		log "no kafka-local cluster in $DIR: nothing to stop"
		return 0
	fi
	load_cluster
	local i pid pids=() t0
	t0=$(date +%s)
	for ((i = 1; i <= NODES; i++)); do
		pid=$(node_pid "$i")
		[ -z "$pid" ] || pids+=("$pid")
	done
	if [ ${#pids[@]} -eq 0 ]; then
		log "no node of $DIR is running"
		return 0
	fi
	# all at once: stopped one by one, the last KRaft node hangs without quorum
	log "stopping ${#pids[@]} node(s) (SIGTERM: ${pids[*]})"
	if ! terminate TERM "$TIMEOUT" "${pids[@]}"; then
		log "still running after ${TIMEOUT}s: SIGKILL"
		terminate KILL 15 "${pids[@]}" || die "could not kill ${pids[*]}"
	fi
	for ((i = 1; i <= NODES; i++)); do
		pid=$(node_pid "$i")
		[ -z "$pid" ] || die "node $i is still running (pid $pid)"
		rm -f "$(node_dir "$i")/pid"
	done
	log "stopped in $(($(date +%s) - t0))s"
}

# node_arg N: validate a node number against the cluster.
node_arg() {
	case "$1" in '' | *[!0-9]*) die "not a node number: $1" ;; esac
	(($1 >= 1 && $1 <= NODES)) || die "no node $1 in this $NODES-node cluster"
}

cmd_kill_node() {
	[ $# -ge 1 ] || usage
	local n=$1 pid
	shift
	parse_opts "$@"
	load_cluster
	node_arg "$n"
	pid=$(node_pid "$n")
	if [ -z "$pid" ]; then
		log "node $n is not running"
		return 0
	fi
	terminate KILL 15 "$pid" || die "node $n (pid $pid) survived SIGKILL"
	rm -f "$(node_dir "$n")/pid"
	log "node $n killed (kill -9 $pid)"
}

cmd_start_node() {
	[ $# -ge 1 ] || usage
	local n=$1 i up=0
	shift
	parse_opts "$@"
	TIMEOUT=${TIMEOUT:-120}
	load_cluster
	node_arg "$n"
	[ -n "$(compgen -G "$LIB/*.jar")" ] || die "no jars in $LIB (run: kafka-local.sh fetch)"
	ensure_tools
	write_tools_config
	if [ -n "$(node_pid "$n")" ]; then
		log "node $n is already running (pid $(node_pid "$n"))"
		return 0
	fi
	local p
	for p in "$(broker_port "$n")" "$(controller_port "$n")"; do
		! port_open "$p" || die "port $p is in use"
	done
	launch "$n"
	for ((i = 1; i <= NODES; i++)); do
		[ -z "$(node_pid "$i")" ] || up=$((up + 1))
	done
	NODES_UP=$n
	if [ $up -le $((NODES / 2)) ]; then
		# No quorum yet (e.g. restarting a stopped cluster node by node):
		# the node cannot become ready; just check that it keeps running.
		sleep 2
		[ -n "$(node_pid "$n")" ] || {
			log_tails
			die "node $n exited (logs above)"
		}
		log "node $n runs; $up of $NODES nodes up, the cluster serves once $((NODES / 2 + 1)) are"
		return 0
	fi
	wait_ready $(($(date +%s) + TIMEOUT)) "node $n" probe_brokers "$n"
	log "node $n is back in the cluster"
}

cmd_status() {
	parse_opts "$@"
	load_cluster
	local i pid running=0 bs port ctl
	echo "cluster $CLUSTER_ID: $NODES node(s), dir $DIR, jars $LIB"
	for ((i = 1; i <= NODES; i++)); do
		pid=$(node_pid "$i")
		port="closed"
		ctl="closed"
		! port_open "$(broker_port "$i")" || port="open"
		! port_open "$(controller_port "$i")" || ctl="open"
		if [ -n "$pid" ]; then
			running=$((running + 1))
			echo "node $i: running (pid $pid), broker 127.0.0.1:$(broker_port "$i") $port, controller 127.0.0.1:$(controller_port "$i") $ctl"
		else
			echo "node $i: stopped, broker 127.0.0.1:$(broker_port "$i") $port, controller 127.0.0.1:$(controller_port "$i") $ctl"
		fi
	done
	bs=$(client_bootstrap)
	echo "bootstrap: $bs"
	[ "$SASL_SSL" != 1 ] || echo "SASL_SSL: CA $DIR/tls/ca.pem, client certificate $DIR/tls/client.crt, key $DIR/tls/client.key, users $SASL_USERS, passwords in $DIR/secrets (PLAINTEXT listeners: $(bootstrap_servers))"
	[ "$running" = "$NODES" ]
}

cmd_bootstrap() {
	parse_opts "$@"
	load_cluster
	client_bootstrap
}

main() {
	[ $# -ge 1 ] || usage
	local cmd=$1
	shift
	case "$cmd" in
	fetch) cmd_fetch "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	kill-node) cmd_kill_node "$@" ;;
	start-node) cmd_start_node "$@" ;;
	status) cmd_status "$@" ;;
	bootstrap) cmd_bootstrap "$@" ;;
	-h | --help | help) usage ;;
	*) die "unknown command: $cmd (see --help)" ;;
	esac
}

main "$@"
