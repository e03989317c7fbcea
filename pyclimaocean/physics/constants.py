"""Physical constants used by every model (SI units), in one place.

=======================================  ===================  ==============================
name                                     value                source / note
=======================================  ===================  ==============================
``GRAVITY`` g                            9.81 m s⁻²           standard value used by ocean models
``REFERENCE_DENSITY`` ρ₀                 1026.0 kg m⁻³        Boussinesq reference density
                                                              (the equation of state's default)
``HEAT_CAPACITY`` c_p                    3991.86795711963     TEOS-10 c_p⁰ of seawater,
                                         J kg⁻¹ K⁻¹           conservative-temperature heat
                                                              capacity (IOC et al. 2010)
``EARTH_ROTATION_RATE`` Ω                7.2921e-5 s⁻¹        sidereal day
``EARTH_RADIUS`` a                       6.371e6 m            mean radius
``REFERENCE_SALINITY`` S₀                35.0 g kg⁻¹          for virtual salt fluxes
``STEFAN_BOLTZMANN`` σ                   5.670374419e-8       CODATA 2018
                                         W m⁻² K⁻⁴
=======================================  ===================  ==============================

A model keeps the values it uses as fields (``ColumnModel.heat_capacity``,
``equation_of_state.reference_density``) so they appear in its pytree and output; their
defaults come from here.
"""

__all__ = [
    "EARTH_RADIUS",
    "EARTH_ROTATION_RATE",
    "GRAVITY",
    "HEAT_CAPACITY",
    "REFERENCE_DENSITY",
    "REFERENCE_SALINITY",
    "STEFAN_BOLTZMANN",
]

GRAVITY = 9.81  # m s⁻²
REFERENCE_DENSITY = 1026.0  # kg m⁻³
HEAT_CAPACITY = 3991.86795711963  # J kg⁻¹ K⁻¹ (TEOS-10 c_p⁰)
EARTH_ROTATION_RATE = 7.2921e-5  # s⁻¹
EARTH_RADIUS = 6.371e6  # m
REFERENCE_SALINITY = 35.0  # g kg⁻¹
STEFAN_BOLTZMANN = 5.670374419e-8  # W m⁻² K⁻⁴
