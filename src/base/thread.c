#include "base/thread.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int cs_thread_nice(void)
{
    /* PRIO_PROCESS with a thread id: that thread's nice value (Linux) */
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, (id_t)gettid());
    return errno == 0 ? nice : 0;
}

int cs_thread_background(void)
{
    if (cs_thread_nice() >= CS_BACKGROUND_NICE)
        return 0;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), CS_BACKGROUND_NICE) != 0)
        return errno;
    return 0;
}
