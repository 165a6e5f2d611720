// memload: the tiny test guest's memory workload (guest/README.md has the schedule syntax).
//
// It follows a schedule of steps -- allocate and touch N MiB at R MiB/s, hold, free, sleep,
// read a disk into the page cache -- given on the kernel command line (vbm.load=STEPS) or as a
// line written by the host to the second serial port (/dev/ttyS1), and logs each step on stdout
// (the console) as one "VBM-LOAD t=MS op=WHAT ... demand=MIB" line, so the host can follow the
// guest's demand, its allocation stalls and its OOM kills from the serial log alone.
//
//   memload [--resume] [--cmdline TEXT] [--ctl DEVICE] [--state FILE]
//   memload --log TEXT          print "VBM-LOAD t=MS TEXT" (for /init, on the same clock)
//
// /init restarts it with --resume when a signal killed it; it then goes on with the step after
// the one it was killed in (the schedule and seed are kept in the state file).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum {
  MIB = 1 << 20,
  PAGE = 4096,
  PAGES_PER_MIB = MIB / PAGE,
  MAX_STEPS = 256,
  MAX_REGIONS = 1024,
  MAX_LINE = 2048, // the kernel command line's size on x86
  READ_PIECE = 128 << 10,
};

struct step {
  char op;       // a(lloc) h(old) f(ree) s(leep) c(ache)
  unsigned mib;  // a, c; f (0: everything)
  unsigned rate; // a, c: MiB/s, 0: as fast as it goes
  int share;     // a: percent of pages with the shared pattern, -1: vbm.share
  unsigned ms;   // h, s
};

struct schedule {
  struct step steps[MAX_STEPS];
  int n;
  int loop;
  char text[MAX_LINE]; // normalised, for the log and the state file; "stop" when empty
};

// One alloc step's mapping. Freeing takes from the top of the stack of regions, so demand is
// one contiguous range of page indexes [0, demand) -- the indexes the page patterns use.
struct region {
  char *addr;
  size_t mib;     // touched (and still mapped)
  uint64_t first; // page index of its first page
};

static struct {
  uint64_t seed;
  int share;
  unsigned stall_ms;
  char disk[128];
  char ctl_path[128];
  const char *state_path;
  int ctl; // control channel, -1 when there is none
  int disk_fd;
  uint64_t cached_mib;
  struct region regions[MAX_REGIONS];
  int nregions;
  struct schedule sched;
  int next;        // index of the next step
  int replaced;    // a command replaced the schedule: the current step stops
  int ended;       // op=end was logged for this schedule
  uint64_t pass0;  // when the current pass over a looping schedule began (us)
  int reporting;   // log demand once a second (while allocating or holding)
  uint64_t report; // when next (us)
  char line[MAX_LINE];
  size_t line_len;
  int line_too_long;
} g; // zero-initialised (bss); the defaults are set in main

static uint64_t tmpl_shared[PAGE / 8], tmpl_private[PAGE / 8];

// ---- time, logging ---------------------------------------------------------------------------

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static size_t demand_mib(void) {
  size_t sum = 0;
  for (int i = 0; i < g.nregions; i++) {
    sum += g.regions[i].mib;
  }
  return sum;
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    buf += n;
    len -= (size_t)n;
  }
}

// say(FMT, ...): one "VBM-LOAD t=MS FMT demand=MIB" line in one write(), so that the kernel's
// console messages do not land inside it.
static void say(const char *fmt, ...) {
  char buf[MAX_LINE + 256];
  size_t cap = sizeof buf - 32; // room for the demand field
  int n = snprintf(buf, cap, "VBM-LOAD t=%llu ", (unsigned long long)(now_us() / 1000));
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
  va_end(ap);
  if ((size_t)n >= cap) {
    n = (int)cap - 1;
  }
  n += snprintf(buf + n, sizeof buf - (size_t)n, " demand=%zu\n", demand_mib());
  write_all(1, buf, (size_t)n);
}

// ---- the schedule's syntax --------------------------------------------------------------------

// parse_uint(&p, &v): the decimal number at *p (at most 10^7), moving p past it.
static int parse_uint(const char **p, unsigned *v) {
  const char *s = *p;
  unsigned long x = 0;
  if (*s < '0' || *s > '9') {
    return 0;
  }
  for (; *s >= '0' && *s <= '9'; s++) {
    x = x * 10 + (unsigned long)(*s - '0');
    if (x > 10000000) {
      return 0;
    }
  }
  *v = (unsigned)x;
  *p = s;
  return 1;
}

// parse_seconds(&p, &ms): "30" or "1.5" (seconds, to the millisecond) at *p.
static int parse_seconds(const char **p, unsigned *ms) {
  unsigned whole, frac = 0, scale = 1000;
  if (!parse_uint(p, &whole) || whole > 1000000) {
    return 0;
  }
  if (**p == '.') {
    const char *s = *p + 1;
    if (*s < '0' || *s > '9') {
      return 0;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
      scale /= 10;
      frac += scale * (unsigned)(*s - '0');
    }
    *p = s;
  }
  *ms = whole * 1000 + frac;
  return 1;
}

// parse_step(TOKEN, &step): NULL, or what is wrong with TOKEN (one word: it goes into a log line).
static const char *parse_step(const char *t, struct step *st) {
  const char *p = t + 1;
  unsigned share;
  *st = (struct step){.op = t[0], .share = -1};
  switch (t[0]) {
  case 'a':
  case 'c':
    if (!parse_uint(&p, &st->mib) || st->mib == 0) {
      return "needs-MiB";
    }
    if (*p == '@') {
      p++;
      if (!parse_uint(&p, &st->rate)) {
        return "bad-rate";
      }
    }
    if (t[0] == 'a' && *p == '%') {
      p++;
      if (!parse_uint(&p, &share) || share > 100) {
        return "bad-share";
      }
      st->share = (int)share;
    }
    break;
  case 'f':
    if (*p != '\0' && !parse_uint(&p, &st->mib)) {
      return "bad-MiB";
    }
    break;
  case 'h':
  case 's':
    if (!parse_seconds(&p, &st->ms)) {
      return "needs-seconds";
    }
    break;
  default:
    return "unknown-step";
  }
  return *p == '\0' ? NULL : "trailing-characters";
}

// parse_schedule(TEXT, &out): NULL, or what is wrong with TEXT: comma-separated steps, "loop"
// as the last one repeats them, "stop" alone is no steps; blanks are ignored.
static const char *parse_schedule(const char *text, struct schedule *out) {
  static char err[64];
  char buf[MAX_LINE];
  size_t len = 0;
  for (const char *s = text; *s != '\0'; s++) {
    if (*s == ' ' || *s == '\t') {
      continue;
    }
    if (len + 1 >= sizeof buf) {
      return "too-long";
    }
    buf[len++] = *s;
  }
  buf[len] = '\0';
  out->n = 0;
  out->loop = 0;
  if (len == 0 || strcmp(buf, "stop") == 0) {
    strcpy(out->text, "stop");
    return NULL;
  }
  memcpy(out->text, buf, len + 1);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    if (out->loop) {
      return "loop-must-be-last";
    }
    if (strcmp(tok, "loop") == 0) {
      out->loop = 1;
      continue;
    }
    if (out->n == MAX_STEPS) {
      return "too-many-steps";
    }
    const char *why = parse_step(tok, &out->steps[out->n]);
    if (why != NULL) {
      snprintf(err, sizeof err, "%s:%.32s", why, tok);
      return err;
    }
    out->n++;
  }
  return NULL;
}

// ---- configuration: the kernel command line, the state file ------------------------------------

// param(CMDLINE, KEY, buf, len): the value of KEY=VALUE on the command line into buf; 0 if absent.
static int param(const char *cmdline, const char *key, char *buf, size_t len) {
  size_t klen = strlen(key);
  for (const char *s = cmdline; *s != '\0';) {
    while (*s == ' ' || *s == '\n') {
      s++;
    }
    size_t w = strcspn(s, " \n");
    if (w > klen && strncmp(s, key, klen) == 0 && s[klen] == '=') {
      size_t v = w - klen - 1;
      if (v >= len) {
        v = len - 1;
      }
      memcpy(buf, s + klen + 1, v);
      buf[v] = '\0';
      return 1;
    }
    s += w;
  }
  return 0;
}

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static uint64_t random_seed(void) {
  uint64_t s = now_us();
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, &s, sizeof s) != sizeof s) {
      s ^= (uint64_t)getpid() << 32;
    }
    close(fd);
  }
  return s % 1000000000u; // short enough to read in a log and to pass back as vbm.seed
}

// configure(CMDLINE, &steps): the vbm.* parameters into g; the schedule text into steps.
static void configure(const char *cmdline, char *steps, size_t len) {
  char v[MAX_LINE];
  unsigned u;
  const char *p;
  g.seed = param(cmdline, "vbm.seed", v, sizeof v) ? strtoull(v, NULL, 10) : random_seed();
  if (param(cmdline, "vbm.share", v, sizeof v) && (p = v, parse_uint(&p, &u)) && u <= 100) {
    g.share = (int)u;
  }
  if (param(cmdline, "vbm.stall", v, sizeof v) && (p = v, parse_uint(&p, &u))) {
    g.stall_ms = u;
  }
  if (param(cmdline, "vbm.disk", v, sizeof v)) {
    snprintf(g.disk, sizeof g.disk, "%s%.100s", v[0] == '/' ? "" : "/dev/", v);
  }
  if (!param(cmdline, "vbm.load", steps, len)) {
    steps[0] = '\0';
  }
}

// save_state(STEP): what a restarted memload needs to go on after STEP (a write to the
// initramfs's RAM, so it survives memload, not the guest).
static void save_state(int step) {
  char tmp[160];
  snprintf(tmp, sizeof tmp, "%s.tmp", g.state_path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) {
    return;
  }
  fprintf(f, "%llu %d\n%s\n", (unsigned long long)g.seed, step, g.sched.text);
  if (fclose(f) == 0) {
    rename(tmp, g.state_path);
  }
}

// load_state(): the schedule, seed and next step saved by the memload that was killed; 0 if none.
static int load_state(void) {
  FILE *f = fopen(g.state_path, "r");
  static char text[MAX_LINE + 2];
  unsigned long long seed;
  int step;
  if (f == NULL) {
    return 0;
  }
  int ok = fscanf(f, "%llu %d\n", &seed, &step) == 2 && fgets(text, sizeof text, f) != NULL;
  fclose(f);
  text[strcspn(text, "\n")] = '\0';
  if (!ok || parse_schedule(text, &g.sched) != NULL) {
    return 0;
  }
  g.seed = seed;
  g.next = step + 1;
  return 1;
}

// ---- the control channel ------------------------------------------------------------------------

// open_control(): the serial port the host writes commands to, raw (an echo would go back to the
// host), or -1. A ttyS device exists for every runtime UART whether or not the machine has it;
// sysfs's type is 0 (unknown) for the missing ones.
static int open_control(void) {
  char sys[200];
  const char *name = strrchr(g.ctl_path, '/');
  snprintf(sys, sizeof sys, "/sys/class/tty/%s/type", name != NULL ? name + 1 : g.ctl_path);
  FILE *f = fopen(sys, "r");
  if (f != NULL) {
    int type = 0;
    int known = fscanf(f, "%d", &type) == 1;
    fclose(f);
    if (!known || type == 0) {
      return -1;
    }
  }
  int fd = open(g.ctl_path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  struct termios tio;
  if (fd < 0 || tcgetattr(fd, &tio) != 0) {
    if (fd >= 0) {
      close(fd);
    }
    return -1;
  }
  cfmakeraw(&tio);
  tio.c_cflag |= CLOCAL | CREAD; // no modem lines: never a hangup
  tcsetattr(fd, TCSANOW, &tio);
  tcflush(fd, TCIOFLUSH);
  return fd;
}

static void reply(const char *fmt, ...) {
  char buf[MAX_LINE + 64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof buf - 1) {
    n = (int)sizeof buf - 2;
  }
  buf[n++] = '\n';
  write_all(g.ctl, buf, (size_t)n);
}

// command(LINE): a schedule replaces the current one at once (the step in progress stops where
// it is; what is allocated stays allocated); "?" asks for the state. Answered on the channel.
static void command(const char *line) {
  static struct schedule next;
  if (strcmp(line, "?") == 0) {
    reply("OK demand=%zu step=%d steps=%s", demand_mib(), g.next, g.sched.text);
    return;
  }
  const char *why = parse_schedule(line, &next);
  if (why != NULL) {
    say("op=cmd-error msg=%s", why);
    reply("ERR %s", why);
    return;
  }
  g.sched = next;
  g.next = 0;
  g.replaced = 1;
  g.ended = 0;
  g.pass0 = now_us();
  save_state(-1);
  say("op=cmd steps=%s", g.sched.text);
  reply("OK demand=%zu steps=%s", demand_mib(), g.sched.text);
}

static void feed(char c) {
  if (c == '\n' || c == '\r') {
    g.line[g.line_len] = '\0';
    if (g.line_too_long) {
      say("op=cmd-error msg=too-long");
      reply("ERR too-long");
    } else if (g.line_len > 0) {
      command(g.line);
    }
    g.line_len = 0;
    g.line_too_long = 0;
  } else if (g.line_len + 1 < sizeof g.line) {
    g.line[g.line_len++] = c;
  } else {
    g.line_too_long = 1;
  }
}

// poll_control(TIMEOUT_MS): wait up to TIMEOUT_MS (-1: for ever) for commands and run them.
// 1 when one replaced the schedule.
static int poll_control(int timeout_ms) {
  if (g.ctl < 0) {
    if (timeout_ms < 0) {
      pause();
    } else if (timeout_ms > 0) {
      usleep((useconds_t)timeout_ms * 1000);
    }
    return 0;
  }
  struct pollfd pfd = {.fd = g.ctl, .events = POLLIN};
  if (poll(&pfd, 1, timeout_ms) <= 0) {
    return 0;
  }
  char buf[256];
  ssize_t n;
  while ((n = read(g.ctl, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; i++) {
      feed(buf[i]);
    }
  }
  if (n < 0 && errno != EAGAIN && errno != EINTR) { // a dead port would make poll spin
    say("op=error msg=control-channel-lost");
    close(g.ctl);
    g.ctl = -1;
  }
  return g.replaced;
}

// ---- waiting, pacing, stalls ----------------------------------------------------------------

static void report_demand(uint64_t now) {
  if (g.reporting && now >= g.report) {
    say("op=demand");
    g.report = now + 1000000;
  }
}

// wait_until(DEADLINE_US): commands and the once-a-second demand line until then. 1 when a
// command replaced the schedule. Commands are looked at even when the deadline has passed: an
// allocation that cannot keep its rate never waits, and must still be stoppable.
static int wait_until(uint64_t deadline) {
  for (;;) {
    uint64_t now = now_us();
    report_demand(now);
    if (now >= deadline) {
      return poll_control(0);
    }
    uint64_t until = g.reporting && g.report < deadline ? g.report : deadline;
    int ms = until - now > 3600000000u ? -1 : (int)((until - now + 999) / 1000);
    if (poll_control(ms)) {
      return 1;
    }
  }
}

struct pace {
  uint64_t t0, took, plan; // us
  unsigned done, stalls;
  uint64_t stall;          // us beyond plan, summed over the stalled chunks
  int aborted;
};

// paced(MIB, RATE, CHUNK, CTX, &pc): CHUNK(CTX, i) for each MiB i, the i-th ending no earlier
// than (i+1)/RATE s after the start. A late chunk is caught up on (the plan is not shifted), so
// demand follows the schedule. A chunk that takes longer than its share of the time plus
// vbm.stall ms is a stall: logged at once, and summed for the step.
static void paced(unsigned mib, unsigned rate, int (*chunk)(void *, unsigned), void *ctx,
                  struct pace *pc) {
  uint64_t share = rate > 0 ? 1000000u / rate : 0;
  uint64_t limit = share + (uint64_t)g.stall_ms * 1000;
  *pc = (struct pace){.t0 = now_us(), .plan = rate > 0 ? (uint64_t)mib * 1000000u / rate : 0};
  for (unsigned i = 0; i < mib && !pc->aborted; i++) {
    uint64_t c0 = now_us();
    if (!chunk(ctx, i)) {
      break;
    }
    pc->done++;
    uint64_t took = now_us() - c0;
    if (took > limit) {
      pc->stalls++;
      pc->stall += took - share;
      say("op=stall ms=%llu", (unsigned long long)((took - share) / 1000));
    }
    if (rate > 0) {
      pc->aborted = wait_until(pc->t0 + (uint64_t)(i + 1) * 1000000u / rate);
    } else {
      report_demand(now_us());
      pc->aborted = poll_control(0);
    }
  }
  pc->took = now_us() - pc->t0;
}

static void say_done(int no, const char *what, const struct pace *pc, const char *extra) {
  say("op=done step=%d what=%s mib=%u ms=%llu plan=%llu stalls=%u stall=%llu%s%s", no, what,
      pc->done, (unsigned long long)(pc->took / 1000), (unsigned long long)(pc->plan / 1000),
      pc->stalls, (unsigned long long)(pc->stall / 1000), pc->aborted ? " aborted=1" : "", extra);
}

// ---- the steps ------------------------------------------------------------------------------

static void make_templates(void) {
  uint64_t s = 0x56424d2d4c4f4144u; // the same in every guest
  uint64_t p = g.seed;
  for (size_t i = 0; i < PAGE / 8; i++) {
    tmpl_shared[i] = splitmix64(&s);
    tmpl_private[i] = splitmix64(&p);
  }
}

// fill_page(PAGE, INDEX, SHARE): page INDEX of the demand gets the shared pattern, the same in
// every guest, if INDEX % 100 < SHARE, else this guest's seeded random bytes: a template, each
// word XORed with INDEX, so no two pages of one guest are equal (KSM merges across guests
// exactly what was meant to be shared). An unrolled loop of 64-bit stores: under TCG, memcpy's
// rep movs costs a translated-block round trip per word, and so does a tight loop.
static void fill_page(uint64_t *page, uint64_t index, int share) {
  const uint64_t *t = (int)(index % 100) < share ? tmpl_shared : tmpl_private;
#pragma GCC unroll 16
  for (size_t i = 0; i < PAGE / 8; i++) {
    page[i] = t[i] ^ index;
  }
}

struct touch {
  struct region *r;
  int share;
};

static int touch_chunk(void *ctx, unsigned i) {
  struct touch *t = ctx;
  char *base = t->r->addr + (size_t)i * MIB;
  uint64_t first = t->r->first + (uint64_t)i * PAGES_PER_MIB;
  for (unsigned j = 0; j < PAGES_PER_MIB; j++) {
    fill_page((uint64_t *)(base + (size_t)j * PAGE), first + j, t->share);
  }
  t->r->mib = i + 1;
  return 1;
}

// step_alloc: map N MiB and touch every page at the step's rate. MAP_NORESERVE: the guest's
// overcommit heuristic must not refuse a step bigger than the guest (the OOM killer is the test).
static void step_alloc(const struct step *s, int no) {
  int share = s->share >= 0 ? s->share : g.share;
  size_t len = (size_t)s->mib * MIB;
  void *addr = g.nregions < MAX_REGIONS
                   ? mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                   : MAP_FAILED;
  if (addr == MAP_FAILED) {
    say("op=error step=%d msg=cannot-map", no);
    return;
  }
  uint64_t first = (uint64_t)demand_mib() * PAGES_PER_MIB;
  struct region *r = &g.regions[g.nregions++];
  *r = (struct region){.addr = addr, .mib = 0, .first = first};
  say("op=alloc step=%d mib=%u rate=%u share=%d", no, s->mib, s->rate, share);
  g.reporting = 1;
  g.report = now_us() + 1000000;
  struct touch t = {r, share};
  struct pace pc;
  paced(s->mib, s->rate, touch_chunk, &t, &pc);
  if (r->mib < s->mib) { // stopped early: give back what was never touched
    munmap(r->addr + r->mib * MIB, len - r->mib * MIB);
  }
  if (r->mib == 0) {
    g.nregions--;
  }
  say_done(no, "alloc", &pc, "");
}

// free_mib(MIB): unmap MIB (0: all) from the top, so the guest kernel gets the pages back.
static size_t free_mib(size_t mib) {
  size_t freed = 0;
  while (g.nregions > 0 && (mib == 0 || freed < mib)) {
    struct region *r = &g.regions[g.nregions - 1];
    size_t take = mib == 0 || r->mib <= mib - freed ? r->mib : mib - freed;
    munmap(r->addr + (r->mib - take) * MIB, take * MIB);
    r->mib -= take;
    freed += take;
    if (r->mib == 0) {
      g.nregions--;
    }
  }
  return freed;
}

static int read_chunk(void *ctx, unsigned i) {
  static char buf[READ_PIECE];
  (void)ctx;
  (void)i;
  for (size_t got = 0; got < MIB;) {
    ssize_t n = read(g.disk_fd, buf, sizeof buf);
    if (n == 0 && lseek(g.disk_fd, 0, SEEK_SET) == 0) { // wrap at the end of the disk
      n = read(g.disk_fd, buf, sizeof buf);
    }
    if (n <= 0) {
      return 0;
    }
    got += (size_t)n;
  }
  g.cached_mib++;
  return 1;
}

// step_cache: read N MiB of the disk (continuing where the last read stopped) into the page cache.
static void step_cache(const struct step *s, int no) {
  if (g.disk_fd < 0) {
    g.disk_fd = open(g.disk, O_RDONLY | O_CLOEXEC);
  }
  if (g.disk_fd < 0) {
    say("op=error step=%d msg=no-disk:%s", no, g.disk);
    return;
  }
  say("op=cache step=%d mib=%u rate=%u disk=%s", no, s->mib, s->rate, g.disk);
  struct pace pc;
  paced(s->mib, s->rate, read_chunk, NULL, &pc);
  char extra[48];
  snprintf(extra, sizeof extra, " read=%llu", (unsigned long long)g.cached_mib);
  say_done(no, "cache", &pc, extra);
}

static void step_wait(const struct step *s, int no) {
  const char *what = s->op == 'h' ? "hold" : "sleep";
  uint64_t t0 = now_us();
  say("op=%s step=%d ms=%u", what, no, s->ms);
  g.reporting = s->op == 'h';
  g.report = t0 + 1000000;
  int aborted = wait_until(t0 + (uint64_t)s->ms * 1000);
  say("op=done step=%d what=%s ms=%llu plan=%u%s", no, what,
      (unsigned long long)((now_us() - t0) / 1000), s->ms, aborted ? " aborted=1" : "");
}

static void run_step(const struct step *s, int no) {
  g.replaced = 0;
  switch (s->op) {
  case 'a':
    step_alloc(s, no);
    break;
  case 'f': {
    size_t freed = free_mib(s->mib);
    say("op=free step=%d mib=%zu", no, freed);
    break;
  }
  case 'h':
  case 's':
    step_wait(s, no);
    break;
  case 'c':
    step_cache(s, no);
    break;
  }
  g.reporting = 0;
}

// run(): the schedule, step by step (numbered from 1 in the log), for ever: after the last step
// it loops or idles, and a command can replace it at any time.
static void run(void) {
  int pass = 1;
  for (;;) {
    if (g.next < g.sched.n) {
      int i = g.next++;
      save_state(i);
      run_step(&g.sched.steps[i], i + 1);
    } else if (g.sched.loop && g.sched.n > 0) {
      // A pass of instant steps ("f,loop") would spin: a pass lasts at least a second.
      g.replaced = 0;
      if (wait_until(g.pass0 + 1000000)) {
        continue;
      }
      g.next = 0;
      g.pass0 = now_us();
      say("op=loop pass=%d", ++pass);
    } else {
      if (!g.ended) {
        save_state(g.sched.n);
        say("op=end");
        g.ended = 1;
      }
      g.replaced = 0;
      wait_until(UINT64_MAX);
    }
  }
}

static int usage(void) {
  fprintf(stderr, "usage: memload [--resume] [--cmdline TEXT] [--ctl DEVICE] [--state FILE]\n"
                  "       memload --log TEXT\n");
  return 2;
}

int main(int argc, char **argv) {
  static char cmdline[MAX_LINE * 2], steps[MAX_LINE];
  int resume = 0;
  const char *cmdline_arg = NULL;
  g.stall_ms = 100;
  strcpy(g.disk, "/dev/vda");
  strcpy(g.ctl_path, "/dev/ttyS1");
  g.state_path = "/run/vbm-load.state";
  g.ctl = -1;
  g.disk_fd = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
      char buf[MAX_LINE];
      int n = snprintf(buf, sizeof buf, "VBM-LOAD t=%llu %s\n",
                       (unsigned long long)(now_us() / 1000), argv[i + 1]);
      write_all(1, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
      return 0;
    } else if (strcmp(argv[i], "--resume") == 0) {
      resume = 1;
    } else if (strcmp(argv[i], "--cmdline") == 0 && i + 1 < argc) {
      cmdline_arg = argv[++i];
    } else if (strcmp(argv[i], "--ctl") == 0 && i + 1 < argc) {
      snprintf(g.ctl_path, sizeof g.ctl_path, "%s", argv[++i]);
    } else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
      g.state_path = argv[++i];
    } else {
      return usage();
    }
  }
  if (cmdline_arg != NULL) {
    snprintf(cmdline, sizeof cmdline, "%s", cmdline_arg);
  } else {
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, cmdline, sizeof cmdline - 1) : -1;
    cmdline[n > 0 ? n : 0] = '\0';
    if (fd >= 0) {
      close(fd);
    }
  }
  configure(cmdline, steps, sizeof steps);
  int resumed = resume && load_state();
  if (!resumed) {
    const char *why = parse_schedule(steps, &g.sched);
    if (why != NULL) {
      say("op=error msg=bad-schedule:%s", why);
      parse_schedule("stop", &g.sched);
    }
  }
  make_templates();
  g.ctl = open_control();
  g.pass0 = now_us();
  say("op=start seed=%llu share=%d stall=%u ctl=%s disk=%s resume=%d steps=%s",
      (unsigned long long)g.seed, g.share, g.stall_ms, g.ctl >= 0 ? g.ctl_path : "none",
      access(g.disk, R_OK) == 0 ? g.disk : "none", resumed ? g.next + 1 : 0, g.sched.text);
  run();
}
