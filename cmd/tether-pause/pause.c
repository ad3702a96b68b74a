/* tether-pause: the process that holds a pod sandbox's namespaces open.
 *
 * It does nothing but wait for a signal. SIGINT and SIGTERM end it with status 0. As PID 1 of the
 * pod's PID namespace it also inherits orphaned processes; SIGCHLD reaps every exited child so that
 * no zombies accumulate. Built static so the sandbox root filesystem needs nothing else. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TETHER_VERSION
#define TETHER_VERSION "unknown"
#endif

static void on_terminate(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

/* Plain write(2) instead of stdio keeps the static binary small. */
static void say(int fd, const char* text) {
  size_t len = strlen(text);
  while (len > 0) {
    ssize_t n = write(fd, text, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text += n;
    len -= (size_t)n;
  }
}

static int install(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | (sig == SIGCHLD ? SA_NOCLDSTOP : 0);
  return sigaction(sig, &sa, NULL);
}

int main(int argc, char** argv) {
  if (argc > 1) {
    if (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0) {
      say(STDOUT_FILENO, "tether-pause " TETHER_VERSION "\n");
      return 0;
    }
    say(STDERR_FILENO, "usage: tether-pause [-v]\n");
    return 2;
  }
  if (install(SIGINT, on_terminate) != 0 || install(SIGTERM, on_terminate) != 0 ||
      install(SIGCHLD, on_child) != 0) {
    say(STDERR_FILENO, "tether-pause: sigaction failed\n");
    return 1;
  }
  /* Children that exited before the handler was installed. */
  on_child(SIGCHLD);
  for (;;) pause();
}
