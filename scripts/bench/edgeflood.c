/*
 * edgeflood: a paced UDP DNS query flood from many loopback source
 * addresses, for scripts/bench-edge.sh (built by it with `cc -O2 -pthread`).
 *
 * It binds one socket to each of PREFIX.FIRST .. PREFIX.(FIRST+COUNT-1)
 * (e.g. 127.0.3.1 .. 127.0.3.254: the "victim" netblock whose address a
 * reflection attack spoofs), connects them all to SERVER:PORT, and sends
 * the queries of PACKETS (cycled; their IDs rewritten) round-robin over the
 * sockets, in batches (sendmmsg), at RATE queries a second for DURATION
 * seconds.  A second thread reads every reply (epoll + recvmmsg) and counts
 * them, their octets, the truncated ones (TC) and their RCODEs; it keeps
 * reading DRAIN_MS after the last query.  What the sockets' receive buffers
 * dropped is read from /proc/net/udp (by socket inode) at the end.
 *
 * usage: edgeflood -s SERVER -p PORT -a PREFIX -f FIRST -n COUNT
 *                  -P PACKETS -r RATE -d DURATION [-b BATCH] [-D DRAIN_MS]
 *   PACKETS: a file of DNS queries, each a 2-octet big-endian length and
 *   the message (the format of a DNS-over-TCP stream).
 *
 * Output (stdout), key=value lines:
 *   t_start t_end      wall-clock (Unix) time of the first and last query
 *   send_s             seconds spent sending
 *   sent sent_bytes send_errors
 *   recv recv_bytes recv_tc rcode_N...  replies, their DNS octets
 *   rcv_drops          replies the sockets' buffers dropped (not in recv)
 *   sec=N sent=... recv=... recv_bytes=... tc=...   one line per second
 * Exit status: 0 done, 2 bad usage or setup error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SRC 254
#define MAX_BATCH 256
#define MAX_PKT 512
#define MAX_SECS 3700
#define RX_BATCH 64
#define RX_BUF 4096

struct pkt {
	uint16_t len;
	unsigned char *data;
};

static struct pkt *pkts;
static size_t npkts;
static int fds[MAX_SRC];
static int nsrc;
static volatile int sending_done;
static double t0_mono;
static long drain_ms = 500;
static int nsecs;

/* receiver counters (written by the receiver thread only) */
static uint64_t recv_n, recv_bytes, recv_tc, rcodes[16];
static uint64_t *sec_recv, *sec_recv_bytes, *sec_tc;
/* sender counters */
static uint64_t *sec_sent;

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "edgeflood: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: edgeflood -s SERVER -p PORT -a PREFIX -f FIRST -n COUNT "
			"-P PACKETS -r RATE -d DURATION [-b BATCH] [-D DRAIN_MS]\n");
	exit(2);
}

static void load_packets(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die(path);
	size_t cap = 1024;
	pkts = malloc(cap * sizeof(*pkts));
	if (!pkts)
		die("malloc");
	for (;;) {
		unsigned char hdr[2];
		if (fread(hdr, 1, 2, f) != 2)
			break;
		uint16_t len = (uint16_t)(hdr[0] << 8 | hdr[1]);
		if (len < 12 || len > MAX_PKT) {
			fprintf(stderr, "edgeflood: %s: query %zu has length %u (12..%d)\n",
				path, npkts, len, MAX_PKT);
			exit(2);
		}
		unsigned char *d = malloc(len);
		if (!d)
			die("malloc");
		if (fread(d, 1, len, f) != len) {
			fprintf(stderr, "edgeflood: %s: truncated at query %zu\n", path, npkts);
			exit(2);
		}
		if (npkts == cap) {
			cap *= 2;
			pkts = realloc(pkts, cap * sizeof(*pkts));
			if (!pkts)
				die("realloc");
		}
		pkts[npkts].len = len;
		pkts[npkts].data = d;
		npkts++;
	}
	fclose(f);
	if (npkts == 0) {
		fprintf(stderr, "edgeflood: %s: no queries\n", path);
		exit(2);
	}
}

static int sec_index(double t)
{
	int s = (int)(t - t0_mono);
	if (s < 0)
		s = 0;
	if (s >= nsecs)
		s = nsecs - 1;
	return s;
}

static void *receiver(void *arg)
{
	int ep = *(int *)arg;
	static unsigned char bufs[RX_BATCH][RX_BUF];
	struct mmsghdr msgs[RX_BATCH];
	struct iovec iov[RX_BATCH];
	struct epoll_event evs[MAX_SRC];
	double quiet_since = 0;
	for (int i = 0; i < RX_BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = RX_BUF;
	}
	for (;;) {
		int n = epoll_wait(ep, evs, MAX_SRC, 20);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		int got_any = 0;
		for (int e = 0; e < n; e++) {
			int fd = evs[e].data.fd;
			for (;;) {
				memset(msgs, 0, sizeof(msgs));
				for (int i = 0; i < RX_BATCH; i++) {
					msgs[i].msg_hdr.msg_iov = &iov[i];
					msgs[i].msg_hdr.msg_iovlen = 1;
				}
				int r = recvmmsg(fd, msgs, RX_BATCH, MSG_DONTWAIT, NULL);
				if (r <= 0)
					break;
				got_any = 1;
				int s = sec_index(now_mono());
				for (int i = 0; i < r; i++) {
					unsigned len = msgs[i].msg_len;
					recv_n++;
					recv_bytes += len;
					sec_recv[s]++;
					sec_recv_bytes[s] += len;
					if (len >= 4) {
						if (bufs[i][2] & 0x02) {
							recv_tc++;
							sec_tc[s]++;
						}
						rcodes[bufs[i][3] & 0x0f]++;
					}
				}
				if (r < RX_BATCH)
					break;
			}
		}
		if (sending_done) {
			double t = now_mono();
			if (got_any || quiet_since == 0)
				quiet_since = t;
			else if ((t - quiet_since) * 1000 >= drain_ms)
				break;
		}
	}
	return NULL;
}

static uint64_t read_drops(void)
{
	/* /proc/net/udp: sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops */
	ino_t inodes[MAX_SRC];
	for (int i = 0; i < nsrc; i++) {
		struct stat st;
		inodes[i] = fstat(fds[i], &st) == 0 ? st.st_ino : 0;
	}
	FILE *f = fopen("/proc/net/udp", "r");
	if (!f)
		return 0;
	char line[512];
	uint64_t drops = 0;
	while (fgets(line, sizeof(line), f)) {
		char *tok[16];
		int nt = 0;
		for (char *p = strtok(line, " \t\n"); p && nt < 16; p = strtok(NULL, " \t\n"))
			tok[nt++] = p;
		if (nt < 13)
			continue;
		unsigned long ino = strtoul(tok[9], NULL, 10);
		for (int i = 0; i < nsrc; i++) {
			if (inodes[i] && inodes[i] == ino) {
				drops += strtoull(tok[12], NULL, 10);
				break;
			}
		}
	}
	fclose(f);
	return drops;
}

int main(int argc, char **argv)
{
	const char *server = NULL, *prefix = NULL, *path = NULL;
	int port = 0, first = 1, count = 0, batch = 32;
	double rate = 0, duration = 0;
	int opt;
	while ((opt = getopt(argc, argv, "s:p:a:f:n:P:r:d:b:D:")) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'a': prefix = optarg; break;
		case 'f': first = atoi(optarg); break;
		case 'n': count = atoi(optarg); break;
		case 'P': path = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'D': drain_ms = atol(optarg); break;
		default: usage();
		}
	}
	if (!server || !prefix || !path || port <= 0 || port > 65535 || count < 1 ||
	    count > MAX_SRC || first < 1 || first + count - 1 > 254 || rate <= 0 ||
	    duration <= 0 || duration > MAX_SECS - 5 || batch < 1 || batch > MAX_BATCH ||
	    drain_ms < 0)
		usage();
	/* die with the bench driver, whatever happens to it */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	prctl(PR_SET_TIMERSLACK, 1UL);
	load_packets(path);

	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, server, &dst.sin_addr) != 1) {
		fprintf(stderr, "edgeflood: bad server address %s\n", server);
		return 2;
	}
	if ((ntohl(dst.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "edgeflood: %s is not a loopback address\n", server);
		return 2;
	}
	int ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	nsrc = count;
	for (int i = 0; i < nsrc; i++) {
		char addr[64];
		snprintf(addr, sizeof(addr), "%s.%d", prefix, first + i);
		struct sockaddr_in src = {.sin_family = AF_INET};
		if (inet_pton(AF_INET, addr, &src.sin_addr) != 1 ||
		    (ntohl(src.sin_addr.s_addr) >> 24) != 127) {
			fprintf(stderr, "edgeflood: bad loopback source %s\n", addr);
			return 2;
		}
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0)
			die("socket");
		int sz = 4 << 20;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) != 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0)
			die(addr);
		if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0)
			die("connect");
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			die("epoll_ctl");
		fds[i] = fd;
	}
	nsecs = (int)duration + 3 + (int)(drain_ms / 1000);
	sec_sent = calloc(nsecs, sizeof(uint64_t));
	sec_recv = calloc(nsecs, sizeof(uint64_t));
	sec_recv_bytes = calloc(nsecs, sizeof(uint64_t));
	sec_tc = calloc(nsecs, sizeof(uint64_t));
	if (!sec_sent || !sec_recv || !sec_recv_bytes || !sec_tc)
		die("calloc");

	static unsigned char slots[MAX_BATCH][MAX_PKT];
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < MAX_BATCH; i++) {
		iov[i].iov_base = slots[i];
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	t0_mono = now_mono();
	double t_start = now_real();
	pthread_t rx;
	if (pthread_create(&rx, NULL, receiver, &ep) != 0) {
		fprintf(stderr, "edgeflood: cannot start the receiver thread\n");
		return 2;
	}
	uint64_t total = (uint64_t)(rate * duration);
	uint64_t sent = 0, sent_bytes = 0, send_errors = 0;
	size_t pi = 0;
	int k = 0;
	double el = 0;
	while (sent < total) {
		el = now_mono() - t0_mono;
		if (el >= duration)
			break;
		uint64_t due = (uint64_t)(el * rate);
		if (due > total)
			due = total;
		if (sent >= due) {
			double wait = (double)(sent + 1) / rate - el;
			if (wait > 0.001)
				wait = 0.001;
			struct timespec ts = {0, (long)(wait * 1e9)};
			nanosleep(&ts, NULL);
			continue;
		}
		uint64_t want = due - sent;
		int n = want > (uint64_t)batch ? batch : (int)want;
		for (int i = 0; i < n; i++) {
			struct pkt *p = &pkts[pi];
			pi = (pi + 1) % npkts;
			memcpy(slots[i], p->data, p->len);
			uint16_t id = (uint16_t)(sent + i);
			slots[i][0] = (unsigned char)(id >> 8);
			slots[i][1] = (unsigned char)id;
			iov[i].iov_len = p->len;
		}
		int r = sendmmsg(fds[k], msgs, n, MSG_DONTWAIT);
		int ok = r < 0 ? 0 : r;
		for (int i = 0; i < ok; i++)
			sent_bytes += iov[i].iov_len;
		send_errors += (uint64_t)(n - ok);
		/* a query the kernel refused counts as sent and failed: the
		 * schedule moves on, as a real flood would */
		sent += (uint64_t)n;
		sec_sent[sec_index(now_mono())] += (uint64_t)ok;
		k = (k + 1) % nsrc;
	}
	double t_end = now_real();
	double send_s = now_mono() - t0_mono;
	sending_done = 1;
	pthread_join(rx, NULL);
	uint64_t drops = read_drops();

	uint64_t sent_ok = sent - send_errors;
	printf("t_start=%.6f\nt_end=%.6f\nsend_s=%.3f\n", t_start, t_end, send_s);
	printf("sent=%llu\nsent_bytes=%llu\nsend_errors=%llu\n", (unsigned long long)sent_ok,
	       (unsigned long long)sent_bytes, (unsigned long long)send_errors);
	printf("recv=%llu\nrecv_bytes=%llu\nrecv_tc=%llu\nrcv_drops=%llu\n",
	       (unsigned long long)recv_n, (unsigned long long)recv_bytes,
	       (unsigned long long)recv_tc, (unsigned long long)drops);
	for (int i = 0; i < 16; i++)
		if (rcodes[i])
			printf("rcode_%d=%llu\n", i, (unsigned long long)rcodes[i]);
	for (int s = 0; s < nsecs; s++)
		if (sec_sent[s] || sec_recv[s])
			printf("sec=%d sent=%llu recv=%llu recv_bytes=%llu tc=%llu\n", s,
			       (unsigned long long)sec_sent[s], (unsigned long long)sec_recv[s],
			       (unsigned long long)sec_recv_bytes[s], (unsigned long long)sec_tc[s]);
	return 0;
}
