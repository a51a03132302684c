/* demo/serve_http.h — `kiln serve`'s HTTP side (libmicrohttpd): routes,
 * bearer-token check, bounded request bodies, JSON responses and Server-Sent
 * Events streams fed from the scheduler's jobs. */
#ifndef KILN_DEMO_SERVE_HTTP_H
#define KILN_DEMO_SERVE_HTTP_H

#include <stddef.h>

#include "demo/serve_json.h"
#include "demo/serve_sched.h"

typedef struct serve_http_options {
    const char *host;         /* IPv4 address or name to listen on */
    int port;                 /* 0: any free port (the one taken is returned) */
    const char *api_key;      /* NULL: no authentication */
    size_t max_body;          /* bytes; larger bodies are refused before they are read */
    int timeout_s;            /* idle connections (slow clients) are closed after this */
    int max_connections;
    int32_t capacity;         /* tokens one request may hold (the session's context) */
} serve_http_options;

typedef struct serve_http serve_http;

/* Starts listening; *port_out gets the port. Messages on stderr. */
int serve_http_start(const serve_http_options *o, serve_sched *S, const kiln_model *m, const serve_model_info *mi,
                     serve_http **out, int *port_out);
/* Stops accepting new connections (running requests go on). */
void serve_http_quiesce(serve_http *h);
/* Waits (up to timeout_s) until every request begun has been answered in
 * full: streams have sent their last event. */
void serve_http_drain(serve_http *h, double timeout_s);
/* Closes every connection and frees the server. */
void serve_http_stop(serve_http *h);

#endif
