// Planted violation for the layer-rule test.
#include <QString>
