#include "core/common.h"
#include "obs/admin.h"

const char fr_dashboard_html[] = "<!doctype html><title>ferry</title>\n";
