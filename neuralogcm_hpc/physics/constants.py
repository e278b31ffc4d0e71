"""Physical constants, defined once for the model, its diagnostics and plots."""

EARTH_RADIUS = 6.371e6  # m, mean radius (Williamson et al. 1992 use 6.37122e6)
OMEGA = 7.292e-5  # s-1, Earth's rotation rate
# Boussinesq reference density (MOM/POP convention): the primitive-equation
# pressure and energy, the shallow-water wind-stress term, every diagnostic
RHO0 = 1035.0  # kg m-3
CP0 = 3992.0  # J kg-1 K-1, TEOS-10 reference heat capacity (heat content)
SECONDS_PER_DAY = 86400.0
