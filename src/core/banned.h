/*
 * banned.h: functions that are too easy to misuse. Using one is a compile
 * error that names the safer choice (after git's banned.h).
 */
#ifndef FR_CORE_BANNED_H
#define FR_CORE_BANNED_H

#define FR_BANNED(func) sorry_##func##_is_banned_in_ferry

#undef strcpy
#define strcpy(x, y) FR_BANNED(strcpy_use_fr_strlcpy)
#undef strcat
#define strcat(x, y) FR_BANNED(strcat_use_fr_buf)
#undef strncpy
#define strncpy(x, y, n) FR_BANNED(strncpy_use_fr_strlcpy)
#undef sprintf
#define sprintf(...) FR_BANNED(sprintf_use_snprintf)
#undef vsprintf
#define vsprintf(...) FR_BANNED(vsprintf_use_vsnprintf)
#undef strtok
#define strtok(x, y) FR_BANNED(strtok_use_strtok_r)
#undef atoi
#define atoi(x) FR_BANNED(atoi_use_strtol)
#undef atol
#define atol(x) FR_BANNED(atol_use_strtol)
#undef gmtime
#define gmtime(x) FR_BANNED(gmtime_use_gmtime_r)
#undef localtime
#define localtime(x) FR_BANNED(localtime_use_localtime_r)

#endif
