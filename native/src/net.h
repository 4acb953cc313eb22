/* The network namespace's own part of the init: the loopback interface. */
#ifndef TSRUN_NET_H
#define TSRUN_NET_H

/* Sets lo up (a new network namespace starts with it down), as Docker and crun do. */
int loopback_up(void);

#endif
