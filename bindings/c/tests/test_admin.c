/*
 * The admin endpoint from C: fb_admin_start over a registry, GET /breakers
 * and /metrics over a plain loopback socket, the listed breaker's name,
 * bad arguments, and the port freed by fb_admin_stop.
 *
 * Usage: test_admin
 */
#include "check.h"
#include "fusebox.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* GET `path` from 127.0.0.1:`port` (HTTP/1.0, read to EOF) into `out`;
 * the bytes read, or -1. */
static long http_get(int port, const char *path, char *out, size_t cap) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  char req[256];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
  if (write(fd, req, (size_t)n) != n) {
    close(fd);
    return -1;
  }
  size_t got = 0;
  for (;;) {
    ssize_t r = read(fd, out + got, cap - 1 - got);
    if (r <= 0) break;
    got += (size_t)r;
    if (got == cap - 1) break;
  }
  out[got] = 0;
  close(fd);
  return (long)got;
}

/* Whether something can still bind 127.0.0.1:`port`. */
static int port_is_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(fd, 1) == 0;
  close(fd);
  return ok;
}

int main(void) {
  fb_registry *reg = NULL;
  fb_config config;
  CHECK(fb_config_default(&config) == FB_OK);
  CHECK(fb_registry_new(&config, NULL, &reg) == FB_OK);
  fb_breaker *db = NULL;
  CHECK(fb_registry_get_or_create(reg, "payments-db", &db) == FB_OK);
  CHECK(fb_breaker_force_open(db) == FB_OK);

  fb_admin *admin = NULL;
  CHECK(fb_admin_start(reg, "127.0.0.1:0", NULL, &admin) == FB_OK);
  char address[64];
  size_t len = 0;
  CHECK(fb_admin_address(admin, NULL, 0, &len) == FB_ERR_INVALID_ARGUMENT);
  CHECK(fb_admin_address(admin, address, sizeof address, &len) == FB_OK);
  CHECK(strncmp(address, "127.0.0.1:", 10) == 0 && strlen(address) == len);
  int port = atoi(address + 10);
  CHECK(port > 0);

  static char body[1 << 16];
  CHECK(http_get(port, "/breakers", body, sizeof body) > 0);
  CHECK(strncmp(body, "HTTP/1.", 7) == 0 && strncmp(body + 8, " 200 ", 5) == 0);
  CHECK(strstr(body, "\"payments-db\"") != NULL);
  CHECK(strstr(body, "\"forced_open\"") != NULL);
  CHECK(http_get(port, "/metrics", body, sizeof body) > 0);
  CHECK(strstr(body, "fusebox_state{breaker=\"payments-db\",state=\"open\"} 1\n") != NULL);
  CHECK(http_get(port, "/nope", body, sizeof body) > 0);
  CHECK(strncmp(body, "HTTP/1.", 7) == 0 && strncmp(body + 8, " 404 ", 5) == 0);

  /* Stopped: the port is free again, the handle is gone. */
  CHECK(fb_admin_stop(admin) == FB_OK);
  CHECK(port_is_free(port));
  CHECK(fb_admin_stop(admin) == FB_ERR_INVALID_HANDLE);

  /* With a token, and then bad arguments. */
  CHECK(fb_admin_start(reg, "127.0.0.1:0", "s3cret", &admin) == FB_OK);
  CHECK(fb_admin_stop(admin) == FB_OK);
  admin = NULL;
  CHECK(fb_admin_start(reg, "localhost", NULL, &admin) == FB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(fb_last_error(), "fb_admin_start: address \"localhost\" is not IP:PORT") != NULL);
  CHECK(fb_admin_start(reg, "127.0.0.1:99999", NULL, &admin) == FB_ERR_INVALID_ARGUMENT);
  CHECK(fb_admin_start(NULL, "127.0.0.1:0", NULL, &admin) == FB_ERR_NULL_POINTER);
  CHECK(fb_admin_start(reg, NULL, NULL, &admin) == FB_ERR_NULL_POINTER);
  CHECK(fb_admin_start(reg, "127.0.0.1:0", NULL, NULL) == FB_ERR_NULL_POINTER);
  CHECK(admin == NULL);
  CHECK(fb_admin_address(NULL, address, sizeof address, &len) == FB_ERR_NULL_POINTER);
  CHECK(fb_admin_stop(NULL) == FB_ERR_NULL_POINTER);

  /* A port in use: FB_ERR_IO, naming the address. */
  fb_admin *first = NULL;
  CHECK(fb_admin_start(reg, "127.0.0.1:0", NULL, &first) == FB_OK);
  CHECK(fb_admin_address(first, address, sizeof address, &len) == FB_OK);
  CHECK(fb_admin_start(reg, address, NULL, &admin) == FB_ERR_IO);
  CHECK(strstr(fb_last_error(), "cannot listen on 127.0.0.1:") != NULL);
  CHECK(fb_admin_stop(first) == FB_OK);

  CHECK(fb_registry_free(reg) == FB_OK);
  printf("admin (C): %d checks, %d failed\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
