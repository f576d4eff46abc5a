"""Word lists for the PII evaluation corpus, written for this benchmark.

The lists are deliberately broad (many origins, hyphens, apostrophes,
particles) because an Australian support inbox is: a redactor tuned on a
narrow name list should show it here. Given names that are also ordinary
English words live in their own list so the generator can use them sparingly
and tag them.
"""
from __future__ import annotations

GIVEN_NAMES: dict[str, tuple[str, ...]] = {
    "anglo": (
        "Sarah", "Tom", "Jessica", "Liam", "Olivia", "Noah", "Chloe", "Matthew",
        "Emily", "Joshua", "Hannah", "Lachlan", "Isabella", "Cooper", "Charlotte",
        "Harrison", "Amelia", "Mitchell", "Madison", "Brodie", "Kayla", "Tyler",
        "Zoe", "Riley", "Bethany", "Nathan", "Georgia", "Callum", "Tahlia", "Jarrod",
        "Kylie", "Darren", "Sharon", "Bruce", "Sheila", "Craig", "Narelle", "Shane",
        "Leanne", "Wayne", "Tracey", "Glenn", "Michelle", "Stephen", "Rebecca",
        "Andrew", "Samantha", "Benjamin", "Lauren", "Daniel", "Elizabeth", "Harry",
        "Alice", "Oscar", "Evie", "Archie", "Matilda", "Hamish", "Imogen", "Angus",
        "Bronwyn", "Kerry", "Dale", "Troy", "Belinda", "Jodie", "Scott", "Kristy",
    ),
    "vietnamese": (
        "Mai", "Linh", "Thanh", "Huong", "Minh", "Tuan", "Trang", "Duc", "Phuong",
        "Quang", "Thao", "Hieu", "Ngoc", "Khanh", "Bao", "Vy", "Long", "Anh",
        "Dung", "Hoa", "Nhung", "Loan", "Tien", "Vinh", "Thuy", "Hung",
    ),
    "chinese": (
        "Wei", "Jing", "Xiaoming", "Li", "Yan", "Hui", "Jun", "Mei", "Zhiwei",
        "Xin", "Yu", "Lei", "Ting", "Qiang", "Fang", "Jian", "Ying", "Hao",
        "Ming", "Shu", "Xiaoyu", "Zihan", "Yuxuan", "Kai", "Ling", "Wen",
    ),
    "indian": (
        "Priya", "Rahul", "Anjali", "Arjun", "Deepika", "Vikram", "Sanjay",
        "Kavya", "Rohan", "Neha", "Aditya", "Pooja", "Harpreet", "Gurpreet",
        "Manpreet", "Lakshmi", "Suresh", "Meera", "Karthik", "Divya", "Aarav",
        "Ishaan", "Sneha", "Ravi", "Jaspreet", "Navdeep", "Swati", "Venkat", "Anand", "Shreya",
    ),
    "greek": (
        "Nikos", "Eleni", "Giorgos", "Katerina", "Dimitri", "Sofia", "Yiannis",
        "Vasiliki", "Kostas", "Despina", "Theo", "Stavros", "Athena", "Panagiota", "Christos", "Georgia-Rose", "Spiros",
    ),
    "italian": (
        "Giulia", "Marco", "Francesca", "Luca", "Alessandro", "Chiara", "Giuseppe",
        "Antonella", "Salvatore", "Rosaria", "Matteo", "Valentina", "Enzo", "Carmela", "Vincenzo", "Lucia", "Domenico",
    ),
    "arabic": (
        "Ahmed", "Fatima", "Mohammed", "Aisha", "Omar", "Layla", "Yusuf", "Zainab",
        "Khalid", "Mariam", "Hassan", "Noor", "Bilal", "Rania", "Tariq", "Samira", "Jihad", "Leila", "Mustafa", "Huda",
    ),
    "irish": (
        "Siobhan", "Ciaran", "Niamh", "Padraig", "Aoife", "Declan", "Saoirse",
        "Eoin", "Caoimhe", "Cillian", "Roisin", "Seamus", "Orla", "Finbar", "Sinead", "Oisin",
    ),
    "maori": (
        "Aroha", "Wiremu", "Anahera", "Tane", "Mere", "Hemi", "Kahurangi",
        "Rawiri", "Ngaio", "Tamati", "Moana", "Nikau", "Manaia", "Kiri", "Hine", "Ropata", "Awhina",
    ),
    "aboriginal": (
        "Jarrah", "Kirra", "Bindi", "Jedda", "Mirrin", "Yindi", "Allira",
        "Kalinda", "Jirra", "Marlee", "Tanami", "Warrick", "Koorine", "Yarran", "Jayden-Lee",
        "Kaiyu", "Alinta", "Tjarra", "Waylon",
    ),
}

# Given names that are also everyday words; used at a low rate and tagged.
COMMON_WORD_GIVEN: tuple[str, ...] = (
    "Grace", "Rose", "Hope", "Joy", "Dawn", "Amber", "Summer", "Faith",
    "Penny", "Ivy", "Hunter", "Sky", "Bill", "Mark", "Will", "Pearl",
)

SURNAMES: dict[str, tuple[str, ...]] = {
    "anglo": (
        "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson",
        "White", "Martin", "Anderson", "Thompson", "Walker", "Harris", "Ryan",
        "Robinson", "Kelly", "King", "Campbell", "Clarke", "Mitchell", "Hughes",
        "Edwards", "Baxter", "Fletcher", "Pemberton", "Hargreaves", "Whitfield",
        "Ashworth", "Carmichael", "Dunstan", "Prendergast", "Smith-Jones",
        "Taylor-Reid", "Hall-Matthews", "Lloyd-Davies", "Blackwood", "Thornton",
        "Crowley", "Burgess", "McKenzie", "Sutherland", "Pearce", "Nicholls",
    ),
    "vietnamese": (
        "Nguyen", "Tran", "Le", "Pham", "Hoang", "Huynh", "Phan", "Vu", "Vo",
        "Dang", "Bui", "Do", "Ho", "Ngo", "Duong", "Ly", "Truong", "Dinh", "Lam", "Mai", "Quach",
    ),
    "chinese": (
        "Wang", "Zhang", "Chen", "Liu", "Huang", "Zhao", "Wu", "Zhou", "Xu",
        "Lin", "Chan", "Wong", "Leung", "Cheung", "Lau", "Tang", "Yeung", "Kwok",
        "Ng", "Tse", "Ma", "Guo", "Sun", "Yip", "Fung",
    ),
    "indian": (
        "Sharma", "Patel", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Nair",
        "Venkataraman", "Krishnamurthy", "Chatterjee", "Banerjee", "Mehta",
        "Desai", "Joshi", "Kaur", "Pillai", "Subramaniam", "Rao", "Bhattacharya",
        "D'Souza", "Fernandes", "Menon", "Sandhu", "Gill", "Dhillon", "Grewal",
    ),
    "greek": (
        "Papadopoulos", "Georgiou", "Nikolaidis", "Konstantinou", "Dimitriou",
        "Papageorgiou", "Christodoulou", "Karagiannis", "Vlahos", "Stavropoulos",
        "Theodorakis", "Michalopoulos", "Kyriakou", "Angelopoulos",
    ),
    "italian": (
        "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo",
        "Ricci", "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca",
        "Di Marco", "Lo Bianco", "Santoro", "Caruso", "Mancini", "Lombardi", "D'Angelo", "Zappia",
    ),
    "arabic": (
        "Al-Hassan", "El-Masri", "Haddad", "Khoury", "Nasser", "Saleh", "Mansour",
        "Hamdan", "Abdullah", "Ibrahim", "Al-Amin", "Darwish", "Rahman", "Aziz",
        "Bakr", "Fakhoury", "Chehade", "Elkhoury",
    ),
    "irish": (
        "O'Brien", "O'Neil", "O'Sullivan", "O'Connor", "McCarthy", "Murphy",
        "Byrne", "Gallagher", "Doherty", "Kennedy", "Fitzgerald", "O'Shea",
        "McNamara", "Quinlan", "Donnelly", "Mac Giolla", "O'Rourke", "Ní Bhriain",
    ),
    "maori": (
        "Te Whare", "Ngata", "Parata", "Tipene", "Walker", "Tautahi", "Horomona",
        "Te Rangi", "Wihongi", "Paewai", "Rangihuna", "Tuhiwai", "Te Kani", "Whaanga",
    ),
    "aboriginal": (
        "Yunupingu", "Namatjira", "Mundine", "Wanganeen", "Marika", "Gurruwiwi",
        "Wunungmurra", "Tjapaltjarri", "Napaljarri", "Djerrkura", "Gumbula",
        "Mununggurr", "Peris", "Bropho", "Lovett", "Briggs", "Djirrimbilpilwuy", "Pitjara",
    ),
}

# (suburb, state, postcode): real combinations so addresses read true.
SUBURBS: tuple[tuple[str, str, str], ...] = (
    ("Richmond", "VIC", "3121"), ("Fitzroy", "VIC", "3065"), ("Brunswick", "VIC", "3056"),
    ("Footscray", "VIC", "3011"), ("Box Hill", "VIC", "3128"), ("Geelong", "VIC", "3220"),
    ("Werribee", "VIC", "3030"), ("Dandenong", "VIC", "3175"), ("Ballarat Central", "VIC", "3350"),
    ("Bendigo", "VIC", "3550"), ("Parramatta", "NSW", "2150"), ("Bondi", "NSW", "2026"),
    ("Newtown", "NSW", "2042"), ("Chatswood", "NSW", "2067"), ("Blacktown", "NSW", "2148"),
    ("Cabramatta", "NSW", "2166"), ("Wagga Wagga", "NSW", "2650"), ("Newcastle West", "NSW", "2302"),
    ("Wollongong", "NSW", "2500"), ("Penrith", "NSW", "2750"), ("Surry Hills", "NSW", "2010"),
    ("Fortitude Valley", "QLD", "4006"), ("Toowong", "QLD", "4066"), ("Southport", "QLD", "4215"),
    ("Cairns City", "QLD", "4870"), ("Townsville City", "QLD", "4810"), ("Logan Central", "QLD", "4114"),
    ("Toowoomba City", "QLD", "4350"), ("Glenelg", "SA", "5045"), ("Norwood", "SA", "5067"),
    ("Mount Gambier", "SA", "5290"), ("Elizabeth", "SA", "5112"), ("Fremantle", "WA", "6160"),
    ("Joondalup", "WA", "6027"), ("Subiaco", "WA", "6008"), ("Bunbury", "WA", "6230"),
    ("Kalgoorlie", "WA", "6430"), ("Sandy Bay", "TAS", "7005"), ("Launceston", "TAS", "7250"),
    ("Devonport", "TAS", "7310"), ("Braddon", "ACT", "2612"), ("Belconnen", "ACT", "2617"),
    ("Tuggeranong", "ACT", "2900"), ("Darwin City", "NT", "0800"), ("Palmerston", "NT", "0830"),
    ("Alice Springs", "NT", "0870"), ("Katherine", "NT", "0850"), ("Hobart", "TAS", "7000"),
)

STREET_NAMES: tuple[str, ...] = (
    "Smith", "Bourke", "Collins", "Chapel", "Sydney", "Victoria", "Station",
    "Church", "Railway", "High", "Main", "King", "Queen", "George", "Elizabeth",
    "Wattle", "Banksia", "Acacia", "Jacaranda", "Gum Tree", "Bottlebrush",
    "Kookaburra", "Waratah", "Boronia", "Lygon", "Sturt", "Hay", "Murray",
    "Flinders", "Hindley", "Oxford", "Pitt", "Beach", "Marine", "Ocean View",
    "Settlers", "Pioneer", "Mountain View", "Bridge", "Mill", "Park", "Hill",
)

STREET_TYPES: tuple[str, ...] = (
    "St", "Street", "Rd", "Road", "Ave", "Avenue", "Cres", "Crescent", "Ct",
    "Court", "Pl", "Place", "Dr", "Drive", "Pde", "Parade", "Hwy", "Highway",
    "Tce", "Terrace", "Cl", "Close", "Way", "Lane", "Blvd",
)

STATE_LONG = {
    "VIC": "Victoria", "NSW": "New South Wales", "QLD": "Queensland",
    "SA": "South Australia", "WA": "Western Australia", "TAS": "Tasmania",
    "ACT": "ACT", "NT": "Northern Territory",
}

BRANDS: tuple[str, ...] = (
    "Telstra", "Optus", "Vodafone", "TPG", "Aussie Broadband", "Woolworths",
    "Coles", "Aldi", "Bunnings", "JB Hi-Fi", "Harvey Norman", "Kmart", "Big W",
    "Officeworks", "Myer", "David Jones", "Qantas", "Virgin Australia", "Jetstar",
    "Commonwealth Bank", "Westpac", "ANZ", "NAB", "Bendigo Bank", "ING",
    "Australia Post", "StarTrack", "Medibank", "Bupa", "AGL", "Origin Energy",
    "Red Energy", "Chemist Warehouse", "Priceline", "The Good Guys", "Uber Eats",
    "Menulog", "Afterpay", "Zip Pay", "Foxtel", "Kayo", "Stan", "Netflix",
    "Apple", "Samsung", "Microsoft", "Dyson", "Catch", "Amazon", "eBay",
)

CITIES: tuple[str, ...] = (
    "Melbourne", "Sydney", "Brisbane", "Perth", "Adelaide", "Hobart", "Darwin",
    "Canberra", "Gold Coast", "Newcastle", "Wollongong", "Geelong", "Townsville",
    "Cairns", "Toowoomba", "Ballarat", "Bendigo", "Launceston", "Mackay",
    "Rockhampton", "Bunbury", "Bundaberg", "Wagga Wagga", "Alice Springs",
    "Mildura", "Shepparton", "Orange", "Dubbo", "Port Macquarie", "Tamworth",
    "Coffs Harbour", "Albury", "Broome", "Kalgoorlie", "Mount Isa", "Gladstone",
)

# Places named by street or centre without a number: not an address.
PLACES: tuple[str, ...] = (
    "the Bourke St store", "the Chapel Street shop", "our George St branch",
    "the Westfield Parramatta store", "Chadstone", "the Pitt St Mall store",
    "the Rundle Mall branch", "the Queen St Mall store", "Highpoint",
    "the Hay Street outlet", "Macquarie Centre", "Southland", "Eastland",
    "the Collins St office", "the Lygon St store", "Westfield Doncaster",
    "the Smith St depot", "Chermside", "Bondi Junction", "the Murray St Mall store",
)

PRODUCTS: tuple[str, ...] = (
    "router", "modem", "phone", "laptop", "fridge", "washing machine", "TV",
    "headphones", "vacuum", "coffee machine", "air fryer", "drill", "mattress",
    "SIM", "nbn box", "gift card", "couch", "microwave", "printer", "tablet",
    "heater", "esky", "lawn mower", "smartwatch", "kettle", "pram",
)

EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "outlook.com", "hotmail.com", "yahoo.com.au", "bigpond.com",
    "bigpond.net.au", "optusnet.com.au", "icloud.com", "live.com.au",
    "tpg.com.au", "iinet.net.au", "protonmail.com", "westnet.com.au",
    "unimelb.edu.au", "health.nsw.gov.au", "example.com.au", "company.com.au",
)

SITE_HOSTS: tuple[str, ...] = (
    "my.shopfront.com.au", "account.energyco.com.au", "portal.telco.net.au",
    "secure.bankexample.com.au", "login.retailhub.com.au", "app.deliverco.com.au",
    "billing.utilityco.com.au", "help.gadgetshop.com.au", "members.fitclub.com.au",
)

PLATFORMS: tuple[str, ...] = (
    "Instagram", "insta", "IG", "TikTok", "tiktok", "X", "Twitter", "twitter",
)
