/* What nginx's build generates for a dynamic module: load_module looks these
 * three symbols up with dlsym(), so they keep default visibility. */
#include <stddef.h>

extern char ngx_http_portfolio_stream_module;

void *ngx_modules[] = {&ngx_http_portfolio_stream_module, NULL};
char *ngx_module_names[] = {"ngx_http_portfolio_stream_module", NULL};
char *ngx_module_order[] = {NULL};
